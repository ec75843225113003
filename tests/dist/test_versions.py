"""The distributions are released in lockstep: one version, written once, in
src/miroflow/_version.py. Every adapter carries the same version and pins the core to that
minor series (``miroflow>=X.Y.Z,<X.Y+1``); see CHANGELOG.md."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = sorted(path.parent for path in ROOT.glob("adapters/*/pyproject.toml"))


def core_version() -> Version:
    tree = ast.parse((ROOT / "src/miroflow/_version.py").read_text())
    (assignment,) = (node for node in tree.body if isinstance(node, ast.Assign))
    assert [target.id for target in assignment.targets if isinstance(target, ast.Name)] == [
        "__version__"
    ]
    assert isinstance(assignment.value, ast.Constant)
    return Version(str(assignment.value.value))


def project(path: Path) -> dict[str, object]:
    with (path / "pyproject.toml").open("rb") as file:
        table: dict[str, object] = tomllib.load(file)["project"]
    return table


def test_there_are_adapters() -> None:
    assert {path.name for path in ADAPTERS} >= {
        "httpx",
        "postgres",
        "redis",
        "simulator",
        "sqlite",
        "urllib",
    }


def test_the_core_reads_its_version_from_one_place() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        pyproject = tomllib.load(file)
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "src/miroflow/_version.py"


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda path: path.name)
def test_every_adapter_has_the_cores_version(adapter: Path) -> None:
    assert Version(str(project(adapter)["version"])) == core_version()


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda path: path.name)
def test_every_adapter_pins_the_core_to_its_minor_series(adapter: Path) -> None:
    version = core_version()
    dependencies = project(adapter)["dependencies"]
    assert isinstance(dependencies, list)
    (pin,) = (
        requirement
        for requirement in map(Requirement, dependencies)
        if requirement.name == "miroflow"
    )
    expected = f">={version},<{version.major}.{version.minor + 1}"
    assert str(pin.specifier) == str(Requirement(f"miroflow{expected}").specifier), (
        f"{adapter.name} requires {pin}; released in lockstep, it must require miroflow{expected}"
    )
    assert not pin.extras and pin.marker is None


@pytest.mark.parametrize("adapter", [ROOT, *ADAPTERS], ids=lambda path: path.name)
def test_every_distribution_has_its_license_and_readme(adapter: Path) -> None:
    table = project(adapter)
    assert table["license"] == "MIT"
    assert (adapter / "LICENSE").read_text().startswith("MIT License")
    assert "the miroflow authors" in (adapter / "LICENSE").read_text()
    readme = adapter / str(table["readme"])
    text = readme.read_text()
    assert "```sh\npip install " in text.split("```python")[0], "the README starts with pip install"
    assert "](../" not in text and "-e adapters" not in text, "links on PyPI must be absolute"
