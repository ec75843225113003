"""The core imports nothing that does I/O and never reads the clock or the OS random source.

Two checks. The source check reads every core module's syntax tree: no import (anywhere, lazy
ones inside functions included) of an I/O, clock, randomness or dynamic-import module, no
``open``/``__import__``/``exec``/``eval``. ``_client.py`` is the one edge module, with an
explicit allowance: it logs, and it holds ``time.time`` and ``os.urandom`` as the default
clock and entropy (never calling them itself); only the package namespace imports it. The
probe imports the public namespaces in a bare interpreter, runs a whole flow through the pure
functions with a fixed clock and entropy, and lists what got loaded or read.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import attrs
import cattrs
import pytest

CORE = Path(__file__).resolve().parents[2] / "src" / "miroflow"

#: Modules the core never imports: the network, files and processes, the clock, randomness,
#: and dynamic imports (which would hide any of those). A name bans its submodules too.
BANNED_MODULES = (
    "socket",
    "ssl",
    "asyncio",
    "sqlite3",
    "http",
    "urllib.request",
    "secrets",
    "random",
    "selectors",
    "subprocess",
    "time",
    "datetime",
    "uuid",
    "importlib",
    "logging",
)
#: Names in otherwise allowed modules that read the OS random source or open files.
BANNED_NAMES = (
    "os.urandom",
    "os.getrandom",
    "io.open",
    "builtins.open",
    "builtins.__import__",
    "builtins.exec",
    "builtins.eval",
)
#: Builtins that open files or run code the source check cannot see.
BANNED_BUILTINS = frozenset({"open", "__import__", "exec", "eval"})


@attrs.frozen
class Allowance:
    """What one core module may do beyond the rules."""

    #: Banned modules it may import.
    imports: frozenset[str] = frozenset()
    #: Banned modules whose every name it may use.
    modules: frozenset[str] = frozenset()
    #: Banned names it may hold as a default value (``x or time.time``, ``def f(x=...)``),
    #: never call.
    defaults: frozenset[str] = frozenset()
    #: Whether it may import ``_client`` (the edge).
    imports_client: bool = False


NONE = Allowance()
#: Per module, by its path under src/miroflow.
ALLOWANCES: dict[str, Allowance] = {
    # The edge: the clients log every failure and default the clock and entropy ports, and
    # the pause between a waiting caller's polls (AsyncClient imports asyncio for it lazily).
    "_client.py": Allowance(
        imports=frozenset({"logging", "time", "asyncio"}),
        modules=frozenset({"logging"}),
        defaults=frozenset({"time.time", "os.urandom", "time.sleep", "asyncio.sleep"}),
    ),
    # The public namespace exposes Client and AsyncClient.
    "__init__.py": Allowance(imports_client=True),
}


def _banned(dotted: str) -> bool:
    return any(
        dotted == banned or dotted.startswith(banned + ".")
        for banned in BANNED_MODULES + BANNED_NAMES
    )


def _root(dotted: str) -> str:
    return next((m for m in BANNED_MODULES if dotted == m or dotted.startswith(m + ".")), dotted)


def _dotted(node: ast.Attribute) -> str | None:
    """``a.b.c`` for an attribute chain rooted at a plain name, else None."""
    parts = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    if not isinstance(value, ast.Name):
        return None
    parts.append(value.id)
    return ".".join(reversed(parts))


def _as_default(node: ast.expr, parents: dict[ast.AST, ast.AST]) -> bool:
    """``node`` is a fallback value (``given or node``) or a parameter's default."""
    parent = parents.get(node)
    if isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.Or):
        return parent.values[-1] is node
    if isinstance(parent, ast.arguments):
        return node in parent.defaults or node in parent.kw_defaults
    return False


def _imports_client(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.Import):
        return any(
            alias.name == "miroflow._client" or alias.name.startswith("miroflow._client.")
            for alias in node.names
        )
    module = node.module or ""
    names = {alias.name for alias in node.names}
    if node.level == 0:
        if module == "miroflow":
            return "_client" in names
        return module == "miroflow._client" or module.startswith("miroflow._client.")
    # Relative: ``from ._client import X``, ``from .. import _client``.
    if module:
        return module.split(".")[0] == "_client"
    return "_client" in names


def offenders(source: str, name: str = "<source>") -> list[str]:
    """Every way ``source`` (the module at ``name`` under src/miroflow) breaks the rules."""
    allowance = ALLOWANCES.get(name, NONE)
    tree = ast.parse(source, name)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[str] = []

    def hit(node: ast.AST, what: str) -> None:
        found.append(f"{name}:{getattr(node, 'lineno', '?')} {what}")

    def forbidden(dotted: str) -> bool:
        return _banned(dotted) and _root(dotted) not in allowance.modules

    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.Import, ast.ImportFrom))
            and not allowance.imports_client
            and _imports_client(node)
        ):
            hit(node, "imports the edge module _client")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if forbidden(alias.name) and alias.name not in allowance.imports:
                    hit(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            module = node.module or ""
            if forbidden(module):
                hit(node, f"from {module} import ...")
            else:
                for alias in node.names:
                    if forbidden(f"{module}.{alias.name}"):
                        hit(node, f"from {module} import {alias.name}")
        elif isinstance(node, ast.Attribute):
            if isinstance(parents.get(node), ast.Attribute):
                continue  # only whole chains: a.b.c, not a.b again
            dotted = _dotted(node)
            if dotted is None or not forbidden(dotted):
                continue
            if dotted in allowance.defaults and _as_default(node, parents):
                continue
            hit(node, dotted)
        elif isinstance(node, ast.Name) and node.id in BANNED_BUILTINS:
            hit(node, f"{node.id}")
    return found


def _core_sources() -> dict[str, str]:
    return {
        path.relative_to(CORE).as_posix(): path.read_text()
        for path in sorted(CORE.rglob("*.py"))
        if "testing" not in path.relative_to(CORE).parts
    }


# --- the source check ------------------------------------------------------------------------


def test_core_source_does_no_io_and_never_reads_the_clock_or_os_random() -> None:
    sources = _core_sources()
    assert len(sources) > 10
    assert "_client.py" in sources
    assert "simulator/_machine.py" in sources
    found = [hit for name, source in sources.items() for hit in offenders(source, name)]
    assert found == []


def test_only_the_package_namespace_imports_the_edge() -> None:
    importers = {
        name
        for name, source in _core_sources().items()
        for node in ast.walk(ast.parse(source, name))
        if isinstance(node, (ast.Import, ast.ImportFrom)) and _imports_client(node)
    }
    assert importers == {"__init__.py"}
    assert {name for name, allowance in ALLOWANCES.items() if allowance.imports_client} == {
        "__init__.py"
    }


def test_the_edge_allowance_is_all_used() -> None:
    # An allowance nobody needs any more is removed, not left to cover a future regression.
    source = (CORE / "_client.py").read_text()
    tree = ast.parse(source)
    chains = {_dotted(node) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    allowance = ALLOWANCES["_client.py"]
    assert allowance.defaults <= chains
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert allowance.imports <= imported
    assert allowance.modules <= allowance.imports


OFFENDERS = [
    "import os\nos.urandom(3)\n",
    "import os\nentropy = os.urandom\n",
    "from os import urandom\n",
    "from os import getrandom as grab\n",
    "import time\n",
    "import time as clock\n",
    "from time import monotonic\n",
    "from secrets import token_bytes\n",
    "import random\n",
    "import datetime\ndatetime.datetime.now()\n",
    "from datetime import datetime\ndatetime.now()\n",
    "import uuid\nuuid.uuid4()\n",
    '__import__("time")\n',
    'time = __import__("ti" + "me")\n',
    "def fetch():\n    import urllib.request\n",
    "class C:\n    def m(self):\n        from urllib import request\n",
    "from urllib.request import urlopen\n",
    "import http.client\n",
    "from http import client\n",
    "import socket, json\n",
    "import ssl\n",
    "import asyncio\n",
    "import sqlite3\n",
    "import selectors\n",
    "import subprocess\n",
    "import importlib\nimportlib.import_module('socket')\n",
    "from importlib import import_module\n",
    'open("/etc/passwd")\n',
    'with open("x", "w") as f:\n    pass\n',
    "reader = open\n",
    'import io\nio.open("x")\n',
    'import builtins\nbuiltins.open("x")\n',
    'exec("import socket")\n',
    'eval("1 + 1")\n',
    "import logging\n",
    "from ._client import Client\n",
    "from . import _client\n",
    "from .. import _client\n",
    "from miroflow._client import Client\n",
    "from miroflow import _client\n",
    "import miroflow._client\n",
]


@pytest.mark.parametrize("source", OFFENDERS)
def test_the_source_check_catches_each_kind_of_offender(source: str) -> None:
    assert offenders(source, "_machine.py"), source


CLEAN = [
    "import hashlib\nhashlib.sha256(b'')\n",
    "import hmac\nhmac.compare_digest(b'', b'')\n",
    "from urllib.parse import quote, urlsplit\n",
    "import os\nos.environ.get('MIRO_CLIENT_ID')\n",
    "from ._http import HttpRequest\n",
    "from . import _model\n",
    "import threading\nlock = threading.Lock()\n",
    "import json\njson.loads('{}')\n",
    "def f(self):\n    return self.time.time\n",
]


@pytest.mark.parametrize("source", CLEAN)
def test_the_source_check_lets_pure_code_through(source: str) -> None:
    assert offenders(source, "_machine.py") == []


def test_the_edge_may_hold_the_system_clock_and_entropy_as_defaults_only() -> None:
    allowed = (
        "import logging\nimport os\nimport time\n"
        "logger = logging.getLogger('miroflow')\n"
        "def make(clock=None, entropy=None):\n"
        "    return (clock or time.time, entropy or os.urandom)\n"
        "def other(clock=time.time):\n"
        "    return clock\n"
    )
    assert offenders(allowed, "_client.py") == []
    # The same in any other module breaks the rules.
    assert offenders(allowed, "_driver.py")
    # Even the edge never calls them, reads anything else of time, or does I/O.
    for source in (
        "import time\nnow = time.time()\n",
        "import os\nseed = os.urandom(8)\n",
        "import time\ntime.sleep(1)\n",
        "import time\nnow = time.monotonic\n",
        "import socket\n",
        "import os\nos.getrandom(8)\n",
        "from ._client import Client\n",
        'open("x")\n',
    ):
        assert offenders(source, "_client.py"), source


# --- the probe -------------------------------------------------------------------------------

#: Modules that must not be loaded once the core has been imported and used. (``logging``,
#: ``threading``, ``os`` and ``time`` are loaded by the interpreter or the edge anyway.)
FORBIDDEN_MODULES = [
    "socket",
    "ssl",
    "asyncio",
    "sqlite3",
    "http",
    "http.client",
    "http.server",
    "urllib.request",
    "secrets",
    "random",
    "selectors",
    "subprocess",
    "datetime",
    "uuid",
    "email",
]

PROBE = """
import json, os, sys, time

import miroflow
import miroflow.machine as m
import miroflow.records as r
import miroflow.simulator

reads = []


def spy(module, name):
    real = getattr(module, name, None)
    if real is None:
        return

    def spied(*args, **kwargs):
        reads.append(module.__name__ + "." + name)
        return real(*args, **kwargs)

    setattr(module, name, spied)


# Any read of the system clock or random source from here on (the imports are done: logging
# reads the clock as it loads) is recorded.
for clock in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"):
    spy(time, clock)
for source in ("urandom", "getrandom"):
    spy(os, source)

CLIENT_ID = "3074457363680401096"
config = miroflow.ClientConfig(
    client_id=CLIENT_ID,
    client_secret="probe-secret",
    redirect_uri="https://app.example.com/miro/callback/",
    pkce=True,
)
now = 1_700_000_000.0
started = m.step(
    None,
    m.FlowStarted(entropy=bytes(range(m.ENTROPY_BYTES)), team_id="7", return_path="/boards"),
    config=config,
    now=now,
)
pending = started.flow
state = pending.state_token
url = m.authorize_url(config, state, team_id="7", code_verifier=pending.code_verifier)
redirected = m.step(pending, m.UserRedirected(), config=config, now=now + 1)
assert redirected.reply.status == 302 and redirected.reply.location == url
(save,) = redirected.effects
stored = r.loads_flow(r.dumps_flow(save.flow))
assert stored == save.flow and stored.state_hash == m.hash_state(CLIENT_ID, state)
outcome = m.claim_outcome(stored, True, m.hash_binding(pending.binding), now + 2)
assert outcome is m.ClaimOutcome.CLAIMED
callback = m.parse_callback(f"code=probe-code&state={state}&client_id={CLIENT_ID}&team_id=7")
exchanging = m.step(stored, m.CallbackReceived(callback=callback), config=config, now=now + 2)
(send,) = exchanging.effects
assert send.request == m.token_request(config, "probe-code", code_verifier=pending.code_verifier)
body = json.dumps({
    "access_token": "probe-access", "refresh_token": "probe-refresh", "token_type": "bearer",
    "user_id": "3458764517517852417", "team_id": "7", "scope": "boards:read",
    "expires_in": 3599,
}).encode()
response = miroflow.HttpResponse(status=200, body=body)
done = m.step(exchanging.flow, m.TokenResponseReceived(response=response), config=config,
              now=now + 3)
tokens = m.parse_token_response(response, now=now + 3, client_id=CLIENT_ID)
(keep,) = done.effects
assert keep.tokens == tokens and done.reply.status == 303
assert r.loads_tokens(r.dumps_tokens(tokens)) == tokens
late = m.step(stored, m.ClockAdvanced(), config=config, now=stored.deadline + 5)
m.table_to_spec(m.TABLE, machine="flow")
m.refresh_request(config, "probe-refresh")
m.revoke_request(config, "probe-access")

print(json.dumps({
    "final": done.flow.state.value,
    "late": late.flow.state.value,
    "reads": reads,
    "loaded": [name for name in FORBIDDEN if name in sys.modules],
}))
"""


def test_importing_and_running_the_core_loads_no_io_module_and_reads_no_clock() -> None:
    # -I -S: no site hooks (they import things of their own); the paths are put back by hand.
    paths = [
        str(CORE.parent),
        str(Path(attrs.__file__).parents[1]),
        str(Path(cattrs.__file__).parents[1]),
    ]
    script = f"import sys\nsys.path[:0] = {paths!r}\nFORBIDDEN = {FORBIDDEN_MODULES!r}\n" + PROBE
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["final"] == "consumed"
    assert report["late"] == "expired"
    assert report["reads"] == []
    assert report["loaded"] == []
