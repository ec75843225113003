"""The documentation site keeps up with the repository: every adapter's README is a page of
the site (included with pymdownx.snippets, never copied) and every adapter's package has its
API reference (mkdocstrings' ``::: miroflow_<name>``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ADAPTERS = sorted(path.parent for path in ROOT.glob("adapters/*/pyproject.toml"))


def site_text() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for path in DOCS.rglob("*.md")
        if DOCS / "pypi" not in path.parents
    )


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda path: path.name)
def test_every_adapter_readme_is_a_page(adapter: Path) -> None:
    readme = f"adapters/{adapter.name}/README.md"
    assert f'--8<-- "{readme}"' in site_text(), f"include {readme} in a page under docs/"


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda path: path.name)
def test_every_adapter_package_has_its_reference(adapter: Path) -> None:
    for package in sorted((adapter / "src").glob("miroflow_*")):
        wanted = re.compile(rf"^::: {package.name}$", flags=re.MULTILINE)
        assert wanted.search(site_text()), f"add '::: {package.name}' to docs/reference/"
