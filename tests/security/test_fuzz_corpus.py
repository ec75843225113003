"""The fuzz targets never rot: every input of the committed corpus (``fuzz/corpus/<target>/``)
is replayed through its target's check (``fuzz/fuzz_targets.py``), without atheris. A target
passes an input when miroflow answers with a value or its typed error, in bounded time.

Fuzzing itself (new inputs, coverage-guided) is ``make fuzz``; see ``fuzz/run.py``."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
#: The committed corpus stays small: minimized, a few hundred KB at most.
MAX_CORPUS_BYTES = 512 * 1024


def _targets() -> ModuleType:
    name = "miroflow_fuzz_targets"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FUZZ / "fuzz_targets.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


TARGETS: dict[str, Callable[[bytes], None]] = _targets().TARGETS


def test_every_target_has_a_corpus_and_every_corpus_a_target() -> None:
    corpora = {path.name for path in (FUZZ / "corpus").iterdir() if path.is_dir()}
    assert corpora == set(TARGETS)
    for name in TARGETS:
        assert any((FUZZ / "corpus" / name).iterdir()), f"{name} has an empty corpus"


def test_the_corpus_is_small() -> None:
    size = sum(path.stat().st_size for path in (FUZZ / "corpus").rglob("*") if path.is_file())
    assert size <= MAX_CORPUS_BYTES, f"{size} bytes: run `python fuzz/run.py --minimize`"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_committed_corpus_replays(name: str) -> None:
    check = TARGETS[name]
    inputs = sorted((FUZZ / "corpus" / name).iterdir())
    for path in inputs:
        try:
            check(path.read_bytes())
        except BaseException as failure:
            raise AssertionError(f"{name} fails on fuzz/corpus/{name}/{path.name}") from failure


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_target_fails_loudly_on_an_untyped_error(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks do check: an exception that is not miroflow's escapes them (the fuzzer
    reports it as a crash)."""
    module = _targets()

    class Boom(Exception):
        pass

    def boom(*args: object, **kwargs: object) -> None:
        raise Boom

    for attribute in (
        "parse_callback",
        "parse_token_response",
        "parse_token_context",
        "loads_flow",
        "loads_tokens",
    ):
        monkeypatch.setattr(module, attribute, boom)
    import miroflow

    monkeypatch.setattr(miroflow.Client, "login", boom)
    monkeypatch.setattr(miroflow.Client, "handle_callback", boom)
    first = sorted((FUZZ / "corpus" / name).iterdir())[0]
    with pytest.raises(Boom):
        TARGETS[name](first.read_bytes())
