"""Every error code an app can meet has its page on the documentation site, and every page
is of a code that exists: docs/errors/<code>.md, the page a log line
``miroflow <code> (status N, flow F): detail`` leads to. (``make docs`` fails the same way,
through docs/hooks.py; this test says it without building the site.)"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import miroflow

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "docs" / "errors"
ADAPTERS = "adapters/*/src/miroflow_*"


def error_classes() -> set[type[miroflow.MiroflowError]]:
    """The subclasses of ``MiroflowError`` that ``miroflow`` and the adapters' packages
    (adapters/*/src/miroflow_*) define or export. The simulator's (``miroflow.simulator``) are
    the simulated server's answers, never raised to an app; other tests' subclasses are not
    miroflow's."""
    packages = [importlib.import_module(path.name) for path in sorted(ROOT.glob(ADAPTERS))]
    todo = [
        value
        for module in (miroflow, *packages)
        for name in getattr(module, "__all__", ())
        if isinstance(value := getattr(module, name), type)
        and issubclass(value, miroflow.MiroflowError)
        and value is not miroflow.MiroflowError
    ]
    todo += miroflow.MiroflowError.__subclasses__()
    found: set[type[miroflow.MiroflowError]] = set()
    while todo:
        cls = todo.pop()
        package = cls.__module__.partition(".")[0]
        ours = package == "miroflow" or package.startswith("miroflow_")
        if cls in found or not ours or cls.__module__.startswith("miroflow.simulator"):
            continue
        found.add(cls)
        todo += cls.__subclasses__()
    return found


CODES = sorted({cls.code for cls in error_classes()})


def test_the_hierarchy_is_found() -> None:
    assert {"flow_expired", "missing_binding_cookie", "sign_in_required"} <= set(CODES)
    assert "authorization_request_rejected" not in CODES  # the simulator's
    assert len(CODES) == len(error_classes()), "two errors share a code"


@pytest.mark.parametrize("code", CODES)
def test_every_code_has_a_page_with_its_cause_and_fix(code: str) -> None:
    page = PAGES / f"{code}.md"
    assert page.is_file(), f"write docs/errors/{code}.md: its cause and its fix"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {code}\n"), f"{page.name} must open with '# {code}'"
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings[:2] == ["Cause", "Fix"], f"{page.name}: '## Cause', then '## Fix'"


def test_every_page_is_of_a_code() -> None:
    pages = sorted(path.stem for path in PAGES.glob("*.md") if path.name != "index.md")
    assert [stem for stem in pages if stem not in CODES] == []
