"""The core imports nothing that does I/O and never reads the clock or the OS random source."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import attrs
import cattrs

CORE = Path(__file__).resolve().parents[2] / "src" / "miroflow"
FORBIDDEN_MODULES = [
    "socket",
    "ssl",
    "asyncio",
    "sqlite3",
    "http.client",
    "urllib.request",
    "secrets",
    "random",
    "selectors",
    "subprocess",
]
BANNED_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "time_ns"),
    ("os", "urandom"),
    ("os", "getrandom"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
}
BANNED_IMPORTS = {"time", "secrets", "random", "socket", "asyncio", "sqlite3", "ssl"}


def _pure_packages() -> list[str]:
    packages = ["miroflow"]
    if (CORE / "simulator").exists():
        packages.append("miroflow.simulator")
    return packages


def test_importing_the_core_loads_no_io_module() -> None:
    # -I -S: no site hooks (they import things of their own); the paths are put back by hand.
    paths = [
        str(CORE.parent),
        str(Path(attrs.__file__).parents[1]),
        str(Path(cattrs.__file__).parents[1]),
    ]
    probe = "\n".join(
        [
            "import sys, json",
            f"sys.path[:0] = {paths!r}",
            *(f"import {name}" for name in _pure_packages()),
            f"print(json.dumps([m for m in {FORBIDDEN_MODULES!r} if m in sys.modules]))",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [], result.stderr


def offenders(source: str, name: str = "<source>") -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in BANNED_CALLS:
                found.append(f"{name}:{node.lineno} {node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "") in BANNED_IMPORTS:
            found.append(f"{name}:{node.lineno} from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found.extend(
                f"{name}:{node.lineno} import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] in BANNED_IMPORTS
            )
    return found


def test_core_source_never_reads_the_clock_or_os_random() -> None:
    sources = [p for p in CORE.rglob("*.py") if "testing" not in p.relative_to(CORE).parts]
    assert len(sources) > 10
    found = [hit for path in sources for hit in offenders(path.read_text(), path.name)]
    assert found == []


def test_the_source_check_fires_on_each_kind_of_offender() -> None:
    assert offenders("import os\nos.urandom(3)\n")
    assert offenders("import time\n")
    assert offenders("from secrets import token_bytes\n")
    assert offenders("import datetime\ndatetime.now()\n")
    assert offenders("import hashlib\nhashlib.sha256(b'')\n") == []
