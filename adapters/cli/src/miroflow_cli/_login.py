"""``miroflow login``: one flow, from the consent link to stored tokens, with a countdown.

The command is the app here: it starts a flow with ``Client.start``, sends the person to
Miro's consent link, and receives Miro's redirect back on the loopback callback server,
which finishes the flow with ``Client.handle_callback`` (the SQLite stores keep it, as for
any app). The binding cookie that ties a callback to the browser that started the flow in a
web app is held by this process instead: the process that started the flow is the one that
receives its callback, and it passes the binding itself.

The countdown is the machine's, not the command's: each tick feeds ``ClockAdvanced`` to
``miroflow.machine.step`` with the flow's snapshot (the start's ``Answer.flow``), and shows
``miroflow.machine.next_deadline`` minus now. When the machine says ``expired``, the sign-in
is over. (``Client`` has no method that ticks a waiting flow: a web app never needs one, as a
late callback hears "expired" from the claim. The snapshot is a pure value, so stepping it
here changes nothing stored; the stored flow stays until its retention ends, and a callback
after the deadline is answered "expired" by the client.)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.text import Text

from miroflow import (
    Answer,
    AuthorizationDenied,
    Client,
    Clock,
    Flow,
    FlowExpired,
    FlowState,
    TokenSet,
    machine,
)

from ._exit import ExitCode, Failure
from ._server import CallbackServer

__all__ = ["Countdown", "Receive", "RichCountdown", "clock_text", "sign_in"]

#: Waits for the next callback's answer for at most the given seconds (None: none came).
Receive = Callable[[CallbackServer, float], "Answer | None"]
#: How often the countdown ticks, in seconds of the clock.
TICK = 1.0


def clock_text(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour up) of the whole seconds left, rounded up: the
    display reaches 0:00 only when the time is up."""
    whole = max(0, math.ceil(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Countdown(Protocol):
    def show(self, remaining: float, total: float) -> None: ...

    def close(self) -> None: ...


class RichCountdown:
    """A live line on the terminal: the time left to the flow's deadline, with a bar. It draws
    only when a draw is asked for (``auto_refresh`` off), so what it shows is what the machine
    said at the last tick; off a terminal it draws nothing (the command printed the deadline
    once already)."""

    def __init__(self, console: Console) -> None:
        self._live = Live(
            console=console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._started = False

    def show(self, remaining: float, total: float) -> None:
        line = Text.assemble(
            ("Waiting for Miro to send the browser back: ", ""),
            (clock_text(remaining), "bold"),
            (" left (Ctrl-C cancels)", "dim"),
        )
        bar = ProgressBar(total=total, completed=max(remaining, 0.0), width=40)
        self._live.update(Group(line, bar))
        if not self._started:
            self._live.start()
            self._started = True
        self._live.refresh()

    def close(self) -> None:
        if self._started:
            self._live.update(Text(""))  # the stop's last draw: nothing, then erased
            self._live.stop()
            self._started = False


class NoCountdown:
    """For the demo: the flow finishes before a countdown would be worth drawing."""

    def show(self, remaining: float, total: float) -> None:
        pass

    def close(self) -> None:
        pass


def _ours(answer: Answer, flow: Flow) -> bool:
    """Whether a callback's answer moved this flow. A callback that claimed nothing (an old
    tab's, a stranger's) names no flow, or another one: the sign-in goes on waiting."""
    return answer.flow is not None and answer.flow.state_hash == flow.state_hash


def _outcome(answer: Answer) -> TokenSet:
    if answer.tokens is not None:
        return answer.tokens
    error = answer.error
    if isinstance(error, AuthorizationDenied):
        raise Failure(f"Sign-in denied: {error.detail}", ExitCode.DENIED)
    if isinstance(error, FlowExpired):
        raise Failure(f"Sign-in expired: {error.detail}", ExitCode.EXPIRED)
    detail = error.detail if error is not None else f"the callback was answered {answer.status}"
    raise Failure(f"Sign-in failed: {detail}")


def _receive(server: CallbackServer, timeout: float) -> Answer | None:
    return server.next_answer(timeout)


def sign_in(
    client: Client,
    server: CallbackServer,
    *,
    open_link: Callable[[str], object],
    countdown: Countdown,
    clock: Clock = time.time,
    receive: Receive = _receive,
    on_stray: Callable[[Answer], object] = lambda answer: None,
) -> TokenSet:
    """Run one sign-in: start the flow, serve its callback, hand the consent link to
    ``open_link``, tick the machine until the callback finishes the flow or the deadline
    passes. The tokens, stored; or a ``Failure`` (denied, expired, failed, Ctrl-C)."""
    started = client.start()
    flow, cookie, link = started.flow, started.cookie, started.location
    if started.error is not None or flow is None or cookie is None or link is None:
        detail = started.error.detail if started.error is not None else "no consent link"
        raise Failure(f"Could not start the sign-in: {detail}")
    binding = cookie.value
    server.serve(lambda query: client.handle_callback(query, binding_cookie=binding))
    config = client.config
    deadline = machine.next_deadline(flow)
    total = config.flow_lifetime if deadline is None else deadline - clock()
    try:
        open_link(link)
        while True:
            now = clock()
            ticked = machine.step(flow, machine.ClockAdvanced(), config=config, now=now)
            flow = ticked.flow
            deadline = machine.next_deadline(flow)
            if flow.state is FlowState.EXPIRED or deadline is None:
                countdown.close()
                return _at_deadline(server, receive, flow, total)
            remaining = deadline - now
            countdown.show(remaining, total)
            answer = receive(server, min(TICK, remaining))
            if answer is None:
                continue
            if _ours(answer, flow):
                countdown.close()
                return _outcome(answer)
            on_stray(answer)
    except KeyboardInterrupt:
        raise Failure("Sign-in cancelled (Ctrl-C).", ExitCode.INTERRUPTED) from None
    finally:
        countdown.close()


def _at_deadline(server: CallbackServer, receive: Receive, flow: Flow, total: float) -> TokenSet:
    """The machine says the deadline passed. A callback that claimed the flow before it may
    still be being finished (its token request on the way): its answer, not the clock, says
    how the sign-in ended. Waiting for it is bounded by the transport's own deadline."""
    answer = receive(server, 0.0)
    while answer is not None or server.busy:
        if answer is not None and _ours(answer, flow):
            return _outcome(answer)
        answer = receive(server, TICK)
    raise Failure(
        f"Sign-in expired: Miro did not send the browser back within {clock_text(total)}. "
        "Run `miroflow login` again.",
        ExitCode.EXPIRED,
    )
