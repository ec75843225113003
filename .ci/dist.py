"""Build, check and smoke-test every distribution (``make dist``, ``make smoke``).

``dist.py build DIR``: build the wheel and sdist of the core and of every adapter into DIR
(``python -m build``, all at once), run ``twine check --strict`` on them, and check what each
holds: the sdist its own files only, the wheel its packages with ``py.typed`` and its LICENSE,
one version for all, and each adapter's pin on the core.

``dist.py smoke DIR``: install the wheels in DIR, and only those (their dependencies come from
PyPI), into a fresh virtual environment, and run there, from a directory outside the
repository: an import of every package, ``miroflow-simulator --help``, a small test through
the pytest plugin, ``miroflow --help``, and ``miroflow demo`` (the whole token lifecycle on
SQLite against the simulator, on loopback). Fails (exit status 1) at the first thing that goes
wrong.
"""

from __future__ import annotations

import argparse
import email.parser
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import time
import venv
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = [ROOT, *sorted(path.parent for path in ROOT.glob("adapters/*/pyproject.toml"))]
# What an sdist may hold besides its package: what hatch always adds, and our own files.
SDIST_FILES = {"PKG-INFO", "pyproject.toml", ".gitignore", "LICENSE", "README.md"}
CORE_SDIST_FILES = {"CHANGELOG.md", "docs/pypi/README.md"}


class Failed(Exception):
    """A distribution is broken; the message says how."""


def run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    """Run ``command``; on failure, raise ``Failed`` with its output."""
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)  # type: ignore[call-overload]  # noqa: S603
    if done.returncode != 0:
        raise Failed(
            f"{' '.join(map(str, command))} exited with {done.returncode}:\n"
            f"{done.stdout}\n{done.stderr}"
        )
    shown = " ".join(str(part) if len(str(part)) < 80 else "…" for part in command)
    print(f"  ok ({time.monotonic() - started:.1f} s): {shown}")
    assert isinstance(done, subprocess.CompletedProcess)
    return done


def project(path: Path) -> dict[str, object]:
    with (path / "pyproject.toml").open("rb") as file:
        table: dict[str, object] = tomllib.load(file)["project"]
    return table


def packages(path: Path) -> list[str]:
    """The import packages a project's wheel ships (``src/<package>``)."""
    return sorted(
        child.name
        for child in (path / "src").iterdir()
        if child.is_dir() and (child / "__init__.py").exists()
    )


def core_version() -> Version:
    namespace: dict[str, object] = {}
    exec((ROOT / "src/miroflow/_version.py").read_text(), namespace)  # noqa: S102 (our file)
    return Version(str(namespace["__version__"]))


def build(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    print(f"Building {len(PROJECTS)} distributions into {out}/")
    with ThreadPoolExecutor(max_workers=len(PROJECTS)) as pool:
        for done in pool.map(
            lambda path: run([sys.executable, "-m", "build", "--outdir", str(out), str(path)]),
            PROJECTS,
        ):
            del done
    twine = Path(sys.executable).parent / "twine"
    run([str(twine), "check", "--strict", *sorted(map(str, out.iterdir()))])
    check(out)


def metadata(text: str) -> email.message.Message:
    return email.parser.Parser().parsestr(text)


def check(out: Path) -> None:
    version = core_version()
    pin = Requirement(f"miroflow>={version},<{version.major}.{version.minor + 1}").specifier
    for path in PROJECTS:
        name = str(project(path)["name"])
        stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
        wheel, sdist = out / f"{stem}-py3-none-any.whl", out / f"{stem}.tar.gz"
        for file in (wheel, sdist):
            if not file.exists():
                raise Failed(f"{file.name} was not built (is {name}'s version {version}?)")
        own = packages(path)
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            info = metadata(archive.read(f"{stem}.dist-info/METADATA").decode())
        for package in own:
            if f"{package}/py.typed" not in names:
                raise Failed(f"{wheel.name} has no {package}/py.typed")
        if f"{stem}.dist-info/licenses/LICENSE" not in names:
            raise Failed(f"{wheel.name} has no LICENSE")
        strays = {n for n in names if not n.startswith((*(f"{p}/" for p in own), f"{stem}."))}
        if strays:
            raise Failed(f"{wheel.name} holds files of no package of its own: {sorted(strays)}")
        if Version(info["Version"]) != version or info["License-Expression"] != "MIT":
            raise Failed(
                f"{wheel.name}: version {info['Version']}, license "
                f"{info['License-Expression']}; expected {version}, MIT"
            )
        for field in ("Author", "Project-URL", "Classifier"):
            if not info.get_all(field):
                raise Failed(f"{wheel.name} has no {field}")
        body = info.get_payload()
        assert isinstance(body, str)
        if "pip install " not in body.split("```python")[0] or "](../" in body:
            raise Failed(f"{wheel.name}'s README must open with pip install, link absolutely")
        if path != ROOT:
            (core,) = (
                r
                for r in map(Requirement, info.get_all("Requires-Dist") or ())
                if r.name == "miroflow"
            )
            if core.specifier != pin:
                raise Failed(f"{wheel.name} requires {core}; expected miroflow{pin}")
        allowed = SDIST_FILES | (CORE_SDIST_FILES if path == ROOT else set())
        with tarfile.open(sdist) as archive:
            members = [m.name.split("/", 1)[1] for m in archive.getmembers() if m.isfile()]
        strays = {
            member
            for member in members
            if member not in allowed
            and not any(member.startswith(f"src/{package}/") for package in own)
        }
        if strays or any("__pycache__" in m or m.endswith(".pyc") for m in members):
            raise Failed(f"{sdist.name} holds files that are not {name}'s: {sorted(strays)}")
        print(f"  ok: {wheel.name} ({len(names)} files), {sdist.name} ({len(members)} files)")


SMOKE_TEST = '''
"""What a user of the pytest plugin writes (miroflow-simulator's README)."""
from urllib.parse import urlsplit

import miroflow


def test_a_user_signs_in(miro_simulator):
    client = miroflow.Client(miro_simulator.client_config(), flows=miroflow.MemoryFlowStore(),
                             tokens=miroflow.MemoryTokenStore(), transport=miro_simulator.transport)
    login = client.start()
    miro_simulator.auto_approve()
    back = miro_simulator.dispatch(miroflow.HttpRequest(method="GET", url=login.location))
    query = urlsplit(back.header("Location")).query
    assert client.handle_callback(query, binding_cookie=login.cookie.value).tokens is not None
'''

IMPORTS = """
import importlib, importlib.metadata, json, pathlib, sys
modules = {modules!r}
found = {{}}
for name in modules:
    module = importlib.import_module(name)
    found[name] = module.__file__
    if not pathlib.Path(module.__file__).is_relative_to(sys.prefix):
        sys.exit(f"{{name}} comes from {{module.__file__}}, not from the smoke environment")
for name in {distributions!r}:
    direct = importlib.metadata.distribution(name).read_text("direct_url.json")
    if direct is None or not json.loads(direct)["url"].endswith(".whl"):
        sys.exit(f"{{name}} was not installed from a built wheel: {{direct}}")
    version = importlib.metadata.version(name)
    if version != {version!r}:
        sys.exit(f"{{name}} is {{version}}, not {version!r}")
import miroflow
assert miroflow.__version__ == {version!r}, miroflow.__version__
print(json.dumps(found, indent=1))
"""


def smoke(out: Path) -> None:
    version = core_version()
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != len(PROJECTS):
        raise Failed(f"{len(wheels)} wheels in {out}/, expected {len(PROJECTS)}: make dist first")
    work = ROOT / "build" / "smoke"
    if work.exists():
        shutil.rmtree(work)
    environment = work / "venv"
    print(f"Creating a fresh virtual environment in {environment}")
    venv.create(environment, with_pip=True, clear=True)
    python, bin_dir = environment / "bin" / "python", environment / "bin"
    requirements = [
        f"{wheel.resolve()}[testing]"
        if wheel.name.startswith(f"miroflow-{version}-")
        else str(wheel.resolve())
        for wheel in wheels
    ]
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        env=env,
    )
    run([str(python), "-m", "pip", "check"], env=env)

    here = work / "here"  # outside the repository: nothing is imported from a checkout
    here.mkdir()
    modules = [package for path in PROJECTS for package in packages(path)] + [
        "miroflow.machine",
        "miroflow.records",
        "miroflow.simulator",
        "miroflow.testing.model",
        "miroflow.testing.legacy",
        "miroflow.testing.strategies",
        "miroflow.testing.stores",
        "miroflow.testing.transports",
        "miroflow_simulator.pytest_plugin",
    ]
    distributions = [str(project(path)["name"]) for path in PROJECTS]
    code = IMPORTS.format(modules=modules, distributions=distributions, version=str(version))
    run([str(python), "-I", "-c", code], cwd=here, env=env)

    helped = run([str(bin_dir / "miroflow-simulator"), "--help"], cwd=here, env=env)
    if "--redirect-uri" not in helped.stdout:
        raise Failed(f"miroflow-simulator --help says nothing of --redirect-uri:\n{helped.stdout}")

    (here / "test_sign_in.py").write_text(textwrap.dedent(SMOKE_TEST))
    pytest = [str(python), "-I", "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", "."]
    # The plugin module named explicitly (entry points off: loaded twice, pytest refuses)...
    listed = run(
        [*pytest, "--co", "-q", "-p", "miroflow_simulator.pytest_plugin"],
        cwd=here,
        env={**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    if "test_sign_in.py::test_a_user_signs_in" not in listed.stdout:
        raise Failed(f"pytest did not collect the smoke test:\n{listed.stdout}")
    # ...and found through its pytest11 entry point alone, as users get it.
    passed = run([*pytest, "-q", "test_sign_in.py"], cwd=here, env=env)
    if "1 passed" not in passed.stdout:
        raise Failed(f"the plugin's smoke test did not pass:\n{passed.stdout}")

    helped = run([str(bin_dir / "miroflow"), "--help"], cwd=here, env=env)
    if "login" not in helped.stdout or "demo" not in helped.stdout:
        raise Failed(f"miroflow --help lists no login or demo command:\n{helped.stdout}")
    # The demo's temporary directory under the smoke directory, removed with it.
    demo = run([str(bin_dir / "miroflow"), "demo"], cwd=here, env={**env, "TMPDIR": str(here)})
    if "Done: user" not in demo.stdout or "-TokensStored-> fresh" not in demo.stdout:
        raise Failed(f"miroflow demo did not run the whole lifecycle:\n{demo.stdout}")
    print(f"Smoke test passed: {len(wheels)} wheels installed alone in {environment}")
    shutil.rmtree(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=["build", "check", "smoke"])
    parser.add_argument("directory", type=Path)
    arguments = parser.parse_args()
    directory = arguments.directory.resolve()
    try:
        {"build": build, "check": check, "smoke": smoke}[arguments.command](directory)
    except Failed as failure:
        print(f"\n{arguments.command} failed: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
