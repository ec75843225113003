"""HTTP (issue 10, item 5): callbacks per second through miroflow-starlette under uvicorn,
beside a bare Starlette handler doing the floor's work, in the same run.

Two servers, each uvicorn with one worker in a process of its own, the same Starlette and
the same ``SessionMiddleware`` in front:

* miroflow: ``Miroflow(client).routes`` on an ``AsyncClient`` with the memory stores and a
  transport that answers the token request at once, in-process, with Miro's success JSON (the
  network to Miro is not measured); the adapter's default ``on_signed_in`` keeps who signed
  in in the session;
* bare: one handler calling the floor's whole callback (``_floor.MemoryFloor.sign_in``: its
  (b), the same canned token answer parsed, the tokens kept), then the same session write and
  a 303 to ``/`` with the headers miroflow sends.

Each server prepares its own flows (``/_bench/prepare``, before the clock starts) in its own
memory, and hands back each flow's state and binding: every timed request is a fresh, valid
callback with its binding cookie. The load comes from this process (a bounded generator:
keep-alive connections, one request in flight on each, a fixed number of requests per
point), on a core of its own where there are two. After each point every response is checked
(a 303 to ``/`` that sets the session) and the point's first callback is sent again (a
replay must be refused).

    .venv-bench/bin/python benchmarks/_http.py serve miroflow --cpu 0   # one server, by hand
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import os
import selectors
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import miroflow
from miroflow_starlette import SESSION_KEY, Miroflow
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

import _floor
import _measure
import _ours
from _rows import Row

#: The callback's share of the bare handler's throughput miroflow aims at.
AIM_HTTP = 0.9
SIDES = ("bare", "miroflow")
_QUERY_TAIL = f"&client_id={_floor.CLIENT_ID}&team_id={_floor.TEAM_ID}"
#: What miroflow sends with a redirect (``Answer.render``): the bare handler sends the same.
_REDIRECT = {"cache-control": "no-store", "referrer-policy": "no-referrer", "location": "/"}


@dataclasses.dataclass(frozen=True)
class Plan:
    seconds: float  # each point is sized to take about this long (the probe's rate)
    most: int  # requests per point at most
    least: int
    repeat: int  # rounds after the warm-up (probe) round
    connections: int


QUICK = Plan(seconds=0.3, most=300, least=50, repeat=2, connections=8)
# ≤ 10 s per point: 15k callbacks take 2 s at the bare handler's pace on a quiet core, and
# stay under 10 s down to 1.5k/s (the servers' core shared with other work).
FULL = Plan(seconds=2.0, most=15_000, least=2_000, repeat=8, connections=16)


# --- the two apps (run in the server processes) ---------------------------------------------


class InstantEndpoint:
    """Miro's token endpoint answering at once with its success JSON, in-process."""

    async def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        return _ours.RESPONSE


def _lines(pairs: Iterator[tuple[str, str]]) -> Response:
    return PlainTextResponse("".join(f"{state}\t{binding}\n" for state, binding in pairs))


def miroflow_client() -> miroflow.AsyncClient:
    return miroflow.AsyncClient(
        _ours.CONFIG, flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(), transport=InstantEndpoint(),
    )


async def started(client: miroflow.AsyncClient) -> tuple[str, str]:
    """A new flow's state and binding."""
    answer = await client.start()
    if answer.location is None or answer.set_cookie is None:
        raise RuntimeError(f"start answered {answer.status}: {answer.detail}")
    return _measure.split(answer.location, answer.set_cookie)


def miroflow_app(client: miroflow.AsyncClient) -> Starlette:
    if client.cookie_name != _floor.COOKIE_NAME or client.config.callback_path != "/callback":
        raise RuntimeError("the floor's cookie or callback path is not miroflow's")

    async def prepare(request: Request) -> Response:
        count = int(request.query_params["n"])
        return _lines(iter([await started(client) for _ in range(count)]))

    return Starlette(
        routes=[*Miroflow(client).routes, Route("/_bench/prepare", prepare)],
        middleware=[Middleware(SessionMiddleware, secret_key="benchmark only")],
    )


def bare_app(floor: _floor.MemoryFloor) -> Starlette:
    async def login(request: Request) -> Response:  # the same routing table as miroflow's
        location, set_cookie = floor.start()
        response = RedirectResponse(location, status_code=302)
        response.headers.append("set-cookie", set_cookie)
        return response

    async def callback(request: Request) -> Response:
        tokens = floor.sign_in(request.scope["query_string"].decode("latin-1"),
                               request.cookies.get(_floor.COOKIE_NAME, ""))
        if tokens is None:
            return PlainTextResponse("bad callback", status_code=400)
        request.session[SESSION_KEY] = {"user_id": tokens[2], "team_id": tokens[3]}
        return Response(status_code=303, headers=_REDIRECT)

    async def prepare(request: Request) -> Response:
        count = int(request.query_params["n"])
        return _lines(_measure.split(*floor.start()) for _ in range(count))

    return Starlette(
        routes=[Route(_ours.CONFIG.login_path, login), Route("/callback", callback),
                Route("/_bench/prepare", prepare)],
        middleware=[Middleware(SessionMiddleware, secret_key="benchmark only")],
    )


def serve(side: str, cpu: int | None) -> None:
    """One server on an ephemeral loopback port (printed first), until terminated."""
    import uvicorn

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections wait in the backlog until uvicorn accepts them
    print(sock.getsockname()[1], flush=True)
    app = miroflow_app(miroflow_client()) if side == "miroflow" else bare_app(_floor.MemoryFloor())
    # No access log: the callback's request line holds the code and state.
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                            log_level="warning", workers=1, backlog=1024)
    uvicorn.Server(config).run(sockets=[sock])


# --- the servers and the load, seen from the load generator ---------------------------------


@dataclasses.dataclass
class Server:
    side: str
    process: subprocess.Popen[str]
    port: int

    def prepare(self, count: int) -> list[bytes]:
        """``count`` fresh flows started in the server; each one's callback request."""
        url = f"http://127.0.0.1:{self.port}/_bench/prepare?n={count}"
        with urllib.request.urlopen(url, timeout=120) as answer:
            lines = answer.read().decode().splitlines()
        host = f"127.0.0.1:{self.port}"
        return [
            (f"GET /callback?code={_floor.CODE}&state={state}{_QUERY_TAIL} HTTP/1.1\r\n"
             f"Host: {host}\r\nAccept: text/html\r\n"
             f"Cookie: {_floor.COOKIE_NAME}={binding}\r\n\r\n").encode()
            for state, _, binding in (line.partition("\t") for line in lines)
        ]

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used."""
        with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as file:
            fields = file.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _server(side: str, cpu: int | None) -> Iterator[Server]:
    command = [sys.executable, os.path.abspath(__file__), "serve", side]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"the {side} server did not start (exit {process.poll()})")
        yield Server(side, process, int(line))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclasses.dataclass
class Load:
    seconds: float
    heads: list[bytes]  # each response's status line and headers, in request order
    latencies: list[float]  # seconds from each request sent to its response read
    cpu: float  # CPU seconds this process used


class _Connection:
    __slots__ = ("buffer", "index", "sent", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer, self.index, self.sent = sock, bytearray(), -1, 0.0


def drive(port: int, requests: Sequence[bytes], connections: int) -> Load:
    """Every request once, over ``connections`` keep-alive connections (connected before the
    clock starts), one request in flight on each: the next goes as soon as one is answered."""
    total = len(requests)
    heads: list[bytes] = [b""] * total
    latencies = [0.0] * total
    selector = selectors.DefaultSelector()
    conns = []
    for _ in range(min(connections, total)):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(_Connection(sock))
    clock, done, following = time.perf_counter, 0, 0

    def issue(conn: _Connection) -> None:
        nonlocal following
        conn.index, following = following, following + 1
        conn.sent = clock()
        conn.sock.sendall(requests[conn.index])

    with _measure.no_gc():
        cpu, began = time.process_time(), clock()
        for conn in conns:
            issue(conn)
            selector.register(conn.sock, selectors.EVENT_READ, conn)
        while done < total:
            for key, _ in selector.select():
                conn = key.data
                chunk = conn.sock.recv(262_144)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                buffer = conn.buffer
                buffer += chunk
                while (end := buffer.find(b"\r\n\r\n")) >= 0:
                    head = bytes(buffer[:end])
                    length = _content_length(head)
                    if len(buffer) < end + 4 + length:
                        break
                    del buffer[: end + 4 + length]
                    heads[conn.index], latencies[conn.index] = head, clock() - conn.sent
                    done += 1
                    if following < total:
                        issue(conn)
                    else:
                        selector.unregister(conn.sock)
                        break
        elapsed, cpu = clock() - began, time.process_time() - cpu
    for conn in conns:
        conn.sock.close()
    selector.close()
    return Load(elapsed, heads, latencies, cpu)


def _content_length(head: bytes) -> int:
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = lower.find(b"\r\n", at + 2)
    return int(lower[at + 17 : end if end >= 0 else None])


def _header(head: bytes, name: bytes) -> list[bytes]:
    return [line.partition(b":")[2].strip() for line in head.split(b"\r\n")[1:]
            if line.partition(b":")[0].strip().lower() == name]


def check(load: Load, server: Server, first: bytes) -> None:
    """Every response a 303 to the app's page that remembers who signed in; the point's
    first callback, sent again, refused."""
    for head in load.heads:
        if not head.startswith(b"HTTP/1.1 303 "):
            raise RuntimeError(f"{server.side}: a callback answered {head[:40]!r}")
        if _header(head, b"location") != [b"/"] or not any(
            cookie.startswith(b"session=") for cookie in _header(head, b"set-cookie")
        ):
            raise RuntimeError(f"{server.side}: a callback's 303 is not a sign-in: {head!r}")
    replay = drive(server.port, [first], 1).heads[0]
    if not replay.startswith(b"HTTP/1.1 4"):  # miroflow: 409, state already used
        raise RuntimeError(f"{server.side}: a replayed callback answered {replay[:40]!r}")


@contextmanager
def _pinned() -> Iterator[tuple[int | None, str]]:
    """This process (the load) on one core, the servers on another, where there are two."""
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        yield None, "not pinned (fewer than two cores available): servers and load share them"
        return
    before = os.sched_getaffinity(0)
    server_cpu, load_cpu = sorted(before)[:2]
    os.sched_setaffinity(0, {load_cpu})
    try:
        yield server_cpu, (f"servers pinned to CPU {server_cpu}, the load generator to CPU "
                           f"{load_cpu}")
    finally:
        os.sched_setaffinity(0, before)


def stack() -> str:
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    versions = ", ".join(f"{name} {_version(name)}" for name in ("uvicorn", "starlette"))
    return f"{versions}; uvicorn's HTTP parser {http}, event loop {loop}"


def _version(name: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(name)


async def _asgi(app: Starlette, query: bytes, binding: str) -> int:
    """One callback through ``app``'s ASGI interface, in this process (no server)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/callback", "raw_path": b"/callback", "root_path": "",
        "query_string": query, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        "headers": [(b"host", b"127.0.0.1"), (b"accept", b"text/html"),
                    (b"cookie", f"{_floor.COOKIE_NAME}={binding}".encode())],
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def breakdown(quick: bool) -> dict[str, float]:
    """µs per callback in this process, no server, in paired rounds: the floor's whole
    callback and miroflow's (``client.handle_callback``), then each app through ASGI; and,
    round by round, how much more miroflow's app and core take than the bare ones. The
    cyclic GC stays on, as in the servers (miroflow allocates more, so collects more)."""
    number, repeat = (100, 2) if quick else (500, 20)
    loop = asyncio.new_event_loop()
    floor, client = _floor.MemoryFloor(), miroflow_client()
    apps = {"bare": bare_app(floor), "miroflow": miroflow_app(client)}

    async def handle(side: str, app: bool, pairs: list[tuple[str, str]]) -> float:
        queries = [(f"code={_floor.CODE}&state={state}{_QUERY_TAIL}", b) for state, b in pairs]
        began = time.perf_counter()
        if app:
            done = [await _asgi(apps[side], q.encode(), b) == 303 for q, b in queries]
        elif side == "bare":
            done = [floor.sign_in(q, b) is not None for q, b in queries]
        else:
            done = [(await client.handle_callback(q, binding_cookie=b)).tokens is not None
                    for q, b in queries]
        elapsed = time.perf_counter() - began
        if not all(done):
            raise RuntimeError(f"{side}: a callback failed")
        return elapsed / number

    def make(side: str, app: bool) -> _measure.Batch:
        async def prepare() -> list[tuple[str, str]]:
            if side == "bare":
                return [_measure.split(*floor.start()) for _ in range(number)]
            return [await started(client) for _ in range(number)]

        def batch() -> float:
            return loop.run_until_complete(handle(side, app, loop.run_until_complete(prepare())))

        return batch

    names = ("floor_callback", "core_callback", "bare_app", "miroflow_app")
    try:
        times = _measure.rounds([make(side, app) for app in (False, True) for side in SIDES],
                                repeat)
    finally:
        loop.close()
    found = {f"{name}_us": _measure.median_us(seconds)
             for name, seconds in zip(names, times, strict=True)}
    floor_, core, bare, ours = times
    found["app_gap_us"] = statistics.median(b - a for a, b in zip(bare, ours, strict=True)) * 1e6
    found["core_gap_us"] = statistics.median(
        b - a for a, b in zip(floor_, core, strict=True)) * 1e6
    return found


def callbacks(quick: bool, notes: list[str]) -> list[Row]:
    """The HTTP row: callbacks/s of each server, in rounds taking turns going first."""
    plan = QUICK if quick else FULL
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    latency: dict[str, list[float]] = {side: [] for side in SIDES}
    shares: dict[str, list[float]] = {f"{side}_{what}": [] for side in SIDES
                                      for what in ("server_cpu", "load_cpu")}
    with _pinned() as (cpu, pinning), ExitStack() as servers:
        running = {side: servers.enter_context(_server(side, cpu)) for side in SIDES}
        count, slower = plan.least, float("inf")
        for round_ in range(plan.repeat + 1):
            order = SIDES if round_ % 2 else SIDES[::-1]
            for side in order:
                server = running[side]
                requests = server.prepare(count)
                cpu_before = server.cpu_seconds()
                load = drive(server.port, requests, plan.connections)
                server_cpu = server.cpu_seconds() - cpu_before
                check(load, server, requests[0])
                rate = len(requests) / load.seconds
                if round_:
                    rates[side].append(rate)
                    latency[side] += load.latencies
                    shares[f"{side}_server_cpu"].append(server_cpu / load.seconds)
                    shares[f"{side}_load_cpu"].append(load.cpu / load.seconds)
                else:  # the warm-up sizes the points, from the slower side's rate
                    slower = min(slower, rate)
            if not round_:
                count = max(plan.least, min(plan.most, round(slower * plan.seconds)))
    ratios = _measure.ratios(rates["bare"], rates["miroflow"])
    # Callbacks per CPU second the server got: steadier where other processes take turns
    # on the servers' core (the share each server got is reported too).
    per_cpu = {side: [rate / max(share, 1e-9) for rate, share in
                      zip(rates[side], shares[f"{side}_server_cpu"], strict=True)]
               for side in SIDES}
    cpu_ratios = _measure.ratios(per_cpu["bare"], per_cpu["miroflow"])
    ratio = statistics.median(ratios)
    notes.append(
        f"HTTP: {plan.repeat} rounds of {count:,} callbacks per server over {plan.connections} "
        f"keep-alive connections; {pinning}; {stack()}")
    others: dict[str, Any] = {f"{side}_{q}_us": _measure.percentile(latency[side], f) * 1e6
                              for side in SIDES for q, f in (("p50", 0.5), ("p99", 0.99))}
    others.update({key: statistics.median(values) for key, values in shares.items()})
    others.update(breakdown(quick))
    # Judged per CPU second each server got: on a quiet host the two figures agree (each
    # server has its core to itself); on this shared one the wall-clock rate mostly says
    # how much of its core a server was left, which differs from point to point.
    cpu_ratio = statistics.median(cpu_ratios)
    others.update({"wall_ratio": ratio, "wall_q1": _measure.quartiles(ratios)[0],
                   "wall_q3": _measure.quartiles(ratios)[1],
                   "bare_rate": statistics.median(rates["bare"]),
                   "miroflow_rate": statistics.median(rates["miroflow"]),
                   "bare_per_cpu_s": statistics.median(per_cpu["bare"]),
                   "miroflow_per_cpu_s": statistics.median(per_cpu["miroflow"])})
    others.update({"requests": float(count), "connections": float(plan.connections),
                   "rounds": float(plan.repeat)})
    return [Row("http_callback", "HTTP callbacks per server CPU second, miroflow-starlette",
                "/s", statistics.median(per_cpu["bare"]), statistics.median(per_cpu["miroflow"]),
                cpu_ratio, _measure.quartiles(cpu_ratios), f"≥{AIM_HTTP:.0%}",
                cpu_ratio >= AIM_HTTP, others)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve one side of the HTTP benchmark.")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("side", choices=SIDES)
    parser.add_argument("--cpu", type=int, help="pin the server to this CPU")
    args = parser.parse_args(argv)
    serve(args.side, args.cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
