"""Without the ``testing`` extra, the test-kit modules that need it say so: an ImportError
naming ``miroflow[testing]``, not a bare ``No module named 'pytest'``. The modules that need
nothing beyond miroflow's own dependencies still import.

Each check runs in a fresh interpreter (``-I -S``: no site-packages, no environment) whose
sys.path holds the standard library, miroflow and the packages of miroflow's own dependencies
(collected from their installed metadata), so that pytest, hypothesis and trustme are not
importable there."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import miroflow

EXTRA = ("pytest", "hypothesis", "trustme")


def _top_level(distribution: importlib.metadata.Distribution) -> set[Path]:
    """The installed top-level packages and modules of ``distribution``."""
    found: set[Path] = set()
    for file in distribution.files or ():
        first = file.parts[0]
        if first.endswith((".dist-info", ".egg-info", ".pth")) or first in {"..", "__pycache__"}:
            continue
        found.add(Path(str(distribution.locate_file(first))))
    return found


def _closure(name: str, seen: set[str]) -> None:
    """``name`` and its (unconditional, or true here) dependencies, without extras."""
    if name in seen:
        return
    seen.add(name)
    for line in importlib.metadata.requires(name) or ():
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        _closure(requirement.name, seen)


@pytest.fixture(scope="module")
def bare_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of links to miroflow and its dependencies' packages, and nothing else."""
    root = tmp_path_factory.mktemp("bare")
    names: set[str] = set()
    for dependency in importlib.metadata.requires("miroflow") or ():
        requirement = Requirement(dependency)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            _closure(requirement.name, names)
    for name in sorted(names):
        for source in _top_level(importlib.metadata.distribution(name)):
            (root / source.name).symlink_to(source)
    (root / "miroflow").symlink_to(Path(miroflow.__file__).parent)
    return root


def run(bare_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = f"import sys; sys.path.insert(0, {str(bare_path)!r})\n{code}"
    return subprocess.run(  # noqa: S603 (our own interpreter, our own code)
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_extras_libraries_are_really_absent(bare_path: Path) -> None:
    for name in EXTRA:
        done = run(bare_path, f"import {name}")
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, done.stderr


def test_miroflow_itself_imports_without_the_extra(bare_path: Path) -> None:
    done = run(
        bare_path,
        "import miroflow, miroflow.machine, miroflow.records, miroflow.simulator\n"
        "import miroflow.testing, miroflow.testing.model, miroflow.testing.legacy\n"
        "print(miroflow.__file__)",
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("module", "missing"),
    [
        ("miroflow.testing.stores", "pytest"),
        ("miroflow.testing.strategies", "hypothesis"),
        ("miroflow.testing.transports", "pytest"),
    ],
)
def test_a_test_kit_module_names_the_extra(bare_path: Path, module: str, missing: str) -> None:
    done = run(
        bare_path,
        "try:\n"
        f"    import {module}\n"
        "except ModuleNotFoundError as error:\n"
        "    print('bare', error)\n"
        "except ImportError as error:\n"
        "    print('friendly', error.name, '|', error)\n",
    )
    assert done.returncode == 0, done.stderr
    kind, name, message = done.stdout.replace(" | ", " ", 1).split(" ", 2)
    assert (kind, name) == ("friendly", missing), done.stdout
    assert "pip install 'miroflow[testing]'" in message
    assert f"{module} needs {missing}" in message
