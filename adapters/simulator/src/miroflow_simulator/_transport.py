"""In-process transports: a request goes straight to ``Simulator.dispatch``, no socket.

* ``SimulatorTransport`` is a ``miroflow.Transport`` and ``AsyncSimulatorTransport`` a
  ``miroflow.AsyncTransport`` (one method name, ``send``, cannot be both blocking and
  awaitable, so there are two small classes sharing one function);
* ``httpx_transport(sim)`` is an ``httpx`` transport for both ``httpx.Client`` and
  ``httpx.AsyncClient``, for apps that call Miro through httpx, and for driving the consent
  page as a browser would.

An injected stall cannot hang an in-process call: it raises ``miroflow.TransportTimeout``
(``httpx.ReadTimeout`` through httpx) at once, as a real transport would after its deadline.
Redirects are returned, never followed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from miroflow import HttpRequest, HttpResponse, TransportTimeout

from ._simulator import Simulator, Stall

if TYPE_CHECKING:
    import httpx

__all__ = ["AsyncSimulatorTransport", "SimulatorTransport", "httpx_transport"]

_STALL_MESSAGE = "The simulator stalled this request (an injected fault)."


def _exchange(simulator: Simulator, request: HttpRequest) -> HttpResponse:
    answer = simulator.dispatch(request)
    if isinstance(answer, Stall):
        raise TransportTimeout(_STALL_MESSAGE)
    return answer


class SimulatorTransport:
    """A blocking ``miroflow.Transport`` into the simulator."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def send(self, request: HttpRequest) -> HttpResponse:
        return _exchange(self.simulator, request)


class AsyncSimulatorTransport:
    """An awaitable ``miroflow.AsyncTransport`` into the simulator."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def send(self, request: HttpRequest) -> HttpResponse:
        return _exchange(self.simulator, request)


def httpx_transport(simulator: Simulator) -> httpx.MockTransport:
    """An httpx transport (sync and async) answering from the simulator in-process."""
    import httpx  # here, so that loading the pytest plugin does not import httpx

    def handle(request: httpx.Request) -> httpx.Response:
        converted = HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=tuple(request.headers.multi_items()),
            body=request.content,
        )
        answer = simulator.dispatch(converted)
        if isinstance(answer, Stall):
            raise httpx.ReadTimeout(_STALL_MESSAGE, request=request)
        return httpx.Response(
            answer.status, headers=list(answer.headers), content=answer.body, request=request
        )

    return httpx.MockTransport(handle)
