"""Coverage-guided fuzzing of miroflow's parsers with atheris (libFuzzer for Python).

    python fuzz/run.py [--seconds N] [TARGET ...]   # fuzz each target N seconds (default all)
    python fuzz/run.py --minimize [TARGET ...]     # fold new finds into the committed corpus

``make fuzz`` runs the first with ``FUZZ_SECONDS`` (60 by default). Each target runs in a
process of its own (atheris never returns from a run), instrumenting miroflow, starting from
its committed corpus ``fuzz/corpus/<target>/`` (read only) and writing what it finds to
``build/fuzz/<target>/``; a crash is written to ``build/fuzz/crashes/`` and fails the run.
``--minimize`` merges the committed corpus and those finds into the smallest set that keeps
their coverage and writes it back to ``fuzz/corpus/<target>/``: commit that.

The checks themselves live in ``fuzz_targets.py`` and need no atheris: ``make test`` replays
the committed corpus through them (``tests/security/test_fuzz_corpus.py``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "corpus"
WORK = ROOT / "build" / "fuzz"
#: libFuzzer's options for every target: a hung input is a crash after 10 s, no input over
#: 64 KiB (the largest any parser reads is 64 KiB), and no leak of memory past 2 GB.
OPTIONS = ["-timeout=10", "-max_len=65536", "-rss_limit_mb=2048", "-print_final_stats=1"]


def _fuzz_one(name: str, options: list[str]) -> None:
    """In the target's own process: instrument miroflow, then hand over to libFuzzer."""
    import atheris  # type: ignore[import-untyped]  # only here: nothing else needs it

    # Every miroflow module the targets reach is imported here first, instrumented.
    with atheris.instrument_imports(include=["miroflow"]):
        from fuzz_targets import TARGETS

    atheris.Setup([str(WORK / "bin" / name), *options], TARGETS[name])
    atheris.Fuzz()


def _run(name: str, options: list[str]) -> int:
    # libFuzzer runs its own argv[0] again for a merge: an executable that starts this target.
    launcher = WORK / "bin" / name
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__)}" --one {name} -- "$@"\n'
    )
    launcher.chmod(0o755)
    return subprocess.run([str(launcher), *options], cwd=ROOT, check=False).returncode  # noqa: S603  # noqa: S603 - our own


def fuzz(names: list[str], seconds: int) -> int:
    failed = []
    for name in names:
        finds, crashes = WORK / name, WORK / "crashes"
        finds.mkdir(parents=True, exist_ok=True)
        crashes.mkdir(parents=True, exist_ok=True)
        print(f"== fuzzing {name} for {seconds} s", flush=True)
        options = [
            *OPTIONS,
            f"-max_total_time={seconds}",
            f"-artifact_prefix={crashes}/{name}-",
            str(finds),  # the first directory is where libFuzzer writes new inputs
            str(CORPUS / name),
        ]
        if _run(name, options) != 0:
            failed.append(name)
    if failed:
        print(f"fuzzing found crashes in: {', '.join(failed)} (see {WORK / 'crashes'})")
        return 1
    return 0


def minimize(names: list[str]) -> int:
    for name in names:
        with tempfile.TemporaryDirectory() as merged:
            sources = [CORPUS / name, WORK / name]
            options = [*OPTIONS, "-merge=1", merged, *(str(s) for s in sources if s.is_dir())]
            if _run(name, options) != 0 or not any(Path(merged).iterdir()):
                print(f"== {name}: the merge failed; the committed corpus is left as it was")
                return 1
            target = CORPUS / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(merged, target)
            size = sum(path.stat().st_size for path in target.iterdir())
            print(f"== {name}: {len(list(target.iterdir()))} inputs, {size} bytes")
    return 0


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        sys.path.insert(0, str(HERE))
        _fuzz_one(sys.argv[2], sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:])
        return 0
    sys.path.insert(0, str(HERE))
    from fuzz_targets import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("targets", nargs="*", help=f"of: {', '.join(TARGETS)} (default all)")
    parser.add_argument("--seconds", type=int, default=60, help="per target (default 60)")
    parser.add_argument("--minimize", action="store_true", help="merge finds into the corpus")
    arguments = parser.parse_args()
    names = list(arguments.targets) or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"no such target: {', '.join(unknown)}")
    return minimize(names) if arguments.minimize else fuzz(names, arguments.seconds)


if __name__ == "__main__":
    sys.exit(main())
