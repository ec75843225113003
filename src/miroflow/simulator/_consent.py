"""The consent host's records: sign-ins (sessions) and rendered consent forms (tickets).

A real browser reaches Miro's "Install & authorize" only signed in, and the form it posts
carries a CSRF token. Here a **session** is created by the simulated sign-in page (its cookie
names it) and ends on sign-out or after ``SESSION_LIFETIME``; a **ticket** is created each time
the consent page is rendered (its CSRF token, in the form, names it), bound to the session it
was shown in (None for the implicit default user, see ``SignIn``), the user and the exact
authorization request, and is used once: approval issues a code, cancel redirects with
``access_denied``. A form posted without its ticket, from another session, for another request
or a second time is refused and never redirects. The user always comes from the ticket, never
from a form field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._events import ClockAdvanced
from . import _wire as wire
from ._events import (
    AuthorizationRequestRejected,
    ConsentFormRejected,
    ConsentShown,
    ConsentSubmitted,
    Respond,
    SaveCode,
    SaveSession,
    SaveTicket,
    ServerStep,
    UserSignedIn,
    UserSignedOut,
)
from ._model import (
    AuthorizationCode,
    AuthorizationRequest,
    CodeState,
    ConsentTicket,
    Registry,
    Session,
    SessionState,
    TicketState,
    hash_secret,
)
from ._rule import Rule, absorb, answer, check_drawn

__all__ = ["CONSENT_ROWS", "issue_code"]

ACTIVE, ENDED = SessionState.ACTIVE, SessionState.ENDED
ISSUED, USED, EXPIRED = TicketState.ISSUED, TicketState.USED, TicketState.EXPIRED


def issue_code(
    request: AuthorizationRequest,
    *,
    user_id: str,
    team_id: str,
    code: str,
    registry: Registry,
    now: float,
) -> AuthorizationCode:
    """The code "Install & authorize" issues, after checking the app, the user and the team."""
    app = registry.apps.get(request.client_id)
    if app is None or not wire.app_redirect_matches(app, request.redirect_uri):
        raise AuthorizationRequestRejected("The app or its redirect URI is not registered.")
    user = registry.users.get(user_id)
    if user is None:
        raise AuthorizationRequestRejected(f"There is no user {user_id}.")
    if team_id not in user.team_ids:
        raise AuthorizationRequestRejected(
            f"User {user.user_id} may not install apps into team {team_id}."
        )
    check_drawn(code)
    return AuthorizationCode(
        code_hash=hash_secret(code),
        state=CodeState.ISSUED,
        client_id=request.client_id,
        redirect_uri=request.redirect_uri,
        user_id=user.user_id,
        team_id=team_id,
        issued_at=now,
        code_challenge=request.code_challenge,
    )


# --- sessions ---------------------------------------------------------------------------------


def _sign_in(record: None, event: UserSignedIn, registry: Registry, now: float) -> ServerStep:
    if event.user_id not in registry.users:
        raise AuthorizationRequestRejected(f"There is no user {event.user_id}.")
    check_drawn(event.session_token)
    session = Session(
        session_hash=hash_secret(event.session_token),
        state=ACTIVE,
        user_id=event.user_id,
        signed_in_at=now,
    )
    return ServerStep(record=session, effects=(SaveSession(session=session),))


def _end(session: Session, event: Any, registry: Registry, now: float) -> ServerStep:
    if isinstance(event, ClockAdvanced) and now < session.expires_at:
        return ServerStep(record=session)
    ended = attrs.evolve(session, state=ENDED)
    return ServerStep(record=ended, effects=(SaveSession(session=ended),))


# --- consent tickets --------------------------------------------------------------------------


def _show(record: None, event: ConsentShown, registry: Registry, now: float) -> ServerStep:
    user = registry.users.get(event.user_id)
    if user is None or not user.team_ids:
        raise AuthorizationRequestRejected("That user cannot install apps into any team.")
    check_drawn(event.token)
    ticket = ConsentTicket(
        ticket_hash=hash_secret(event.token),
        state=ISSUED,
        request=event.request,
        user_id=event.user_id,
        session_hash=event.session_hash,
        issued_at=now,
    )
    return ServerStep(record=ticket, effects=(SaveTicket(ticket=ticket),))


def _submit(
    ticket: ConsentTicket, event: ConsentSubmitted, registry: Registry, now: float
) -> ServerStep:
    if event.session_hash != ticket.session_hash:
        raise ConsentFormRejected(
            "This consent form was shown to another browser or sign-in (its session cookie "
            "does not match)."
        )
    # team_id only pre-selects a team on the page; the form posts the team picked instead.
    if attrs.evolve(event.request, team_id=ticket.request.team_id) != ticket.request:
        raise ConsentFormRejected("The form does not carry the authorization request it showed.")
    if event.posted_user_id is not None and event.posted_user_id != ticket.user_id:
        raise ConsentFormRejected("The user is the one signed in, not a form field.")
    if now >= ticket.expires_at:
        raise ConsentFormRejected("This consent form has expired: open the link again.")
    used = attrs.evolve(ticket, state=USED)
    if not event.approve:
        return answer(used, wire.denial_redirect(ticket.request), SaveTicket(ticket=used))
    if not event.team_id:
        raise AuthorizationRequestRejected("Pick a team to install the app into.")
    code = issue_code(
        ticket.request,
        user_id=ticket.user_id,
        team_id=event.team_id,
        code=event.code,
        registry=registry,
        now=now,
    )
    response = wire.code_redirect(ticket.request, event.code, event.team_id)
    return answer(used, response, SaveTicket(ticket=used), SaveCode(code=code))


def _submit_dead(
    ticket: ConsentTicket, event: ConsentSubmitted, registry: Registry, now: float
) -> ServerStep:
    raise ConsentFormRejected(
        "This consent form was already submitted or has expired: open the link again."
    )


def _clock_ticket(
    ticket: ConsentTicket, event: ClockAdvanced, registry: Registry, now: float
) -> ServerStep:
    if now < ticket.expires_at:
        return ServerStep(record=ticket)
    dead = attrs.evolve(ticket, state=EXPIRED)
    return ServerStep(record=dead, effects=(SaveTicket(ticket=dead),))


CONSENT_ROWS: Mapping[tuple[Any, type[Any]], Rule] = {
    (None, UserSignedIn): Rule(
        targets=(ACTIVE,),
        effects=(SaveSession,),
        why="A user signed in on the simulated miro.com: a session (cookie) is started.",
        handler=_sign_in,
    ),
    (ACTIVE, UserSignedOut): Rule(
        targets=(ENDED,),
        effects=(SaveSession,),
        why="Signing out ends the session; its cookie no longer names a user.",
        handler=_end,
    ),
    (ACTIVE, ClockAdvanced): Rule(
        targets=(ACTIVE, ENDED),
        effects=(SaveSession,),
        why="A session ends SESSION_LIFETIME after sign-in (UNCONFIRMED: 24 h).",
        handler=_end,
    ),
    **{
        (ENDED, kind): Rule(
            targets=(ENDED,),
            effects=(),
            why="An ended session stays ended.",
            handler=absorb,
        )
        for kind in (UserSignedOut, ClockAdvanced)
    },
    (None, ConsentShown): Rule(
        targets=(ISSUED,),
        effects=(SaveTicket,),
        why=(
            "The consent page was rendered: a ticket (the form's CSRF token) bound to the "
            "session, the user and the authorization request."
        ),
        handler=_show,
    ),
    (ISSUED, ConsentSubmitted): Rule(
        targets=(USED,),
        effects=(SaveTicket, SaveCode, Respond),
        why=(
            "The form came back from the same session, for the same request, in time: "
            "approve issues a code and redirects with it (as ConsentGranted); cancel "
            "redirects with access_denied. Anything else is refused (403), the ticket kept."
        ),
        handler=_submit,
    ),
    **{
        (dead, ConsentSubmitted): Rule(
            targets=(dead,),
            effects=(),
            why="A form submitted twice or too late is refused (403) and never redirects.",
            handler=_submit_dead,
        )
        for dead in (USED, EXPIRED)
    },
    (ISSUED, ClockAdvanced): Rule(
        targets=(ISSUED, EXPIRED),
        effects=(SaveTicket,),
        why="A consent form expires CONSENT_LIFETIME after it was shown (UNCONFIRMED: 30 min).",
        handler=_clock_ticket,
    ),
    **{
        (dead, ClockAdvanced): Rule(
            targets=(dead,),
            effects=(),
            why="Time changes nothing for a used or expired form.",
            handler=absorb,
        )
        for dead in (USED, EXPIRED)
    },
}
