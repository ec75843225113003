"""The test-control surface, served under ``/_simulator/`` (JSON in, JSON out).

=========================  ===============================================================
``GET /state``             time, clock offset, pending faults, auto-approve, apps (no
                           secrets), users and teams
``POST /clock/advance``    ``{"seconds": 600}``: move the clock forward
``POST /faults``           ``{"kind": "stall", "count": 1, "seconds": 5}``: fail the next
                           token calls; ``DELETE /faults`` drops the queue
``POST /auto-approve``     ``{"user_id": ..., "team_id": ...}`` (both optional);
                           ``DELETE /auto-approve`` shows the consent page again
``GET /log``               the API requests seen; ``DELETE /log`` forgets them
``POST /big-team-ids``     ``{"enabled": true}``: team_id as a bare JSON number
``POST /settings``         ``{"number_ids": ["user_id", "team_id"], "return_empty_state":
                           false, "v1_revoke_unknown_ok": true, "sign_in": "page"}`` (each
                           optional): behaviour Miro varies or does not document
``POST /sessions``         ``{"user_id": ...}``: sign a user in; the answer holds the
                           session cookie's name and value
``POST /apps``             ``{"redirect_uris": [...], "expiring": true, ...}``: register an
                           app; the answer holds its client ID and secret
=========================  ===============================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from miroflow import HttpResponse

from ._browser import SESSION_COOKIE, SignIn

if TYPE_CHECKING:
    from ._simulator import Simulator

__all__ = ["ControlError", "control_answer", "handle_control"]


class ControlError(ValueError):
    """A malformed control request (answered 400 on the control surface only)."""


def control_answer(status: int, document: object | None = None) -> HttpResponse:
    if document is None:
        return HttpResponse(status=status, headers=(("Cache-Control", "no-store"),))
    return HttpResponse(
        status=status,
        headers=(("Content-Type", "application/json"), ("Cache-Control", "no-store")),
        body=json.dumps(document).encode(),
    )


def _document(body: bytes) -> Mapping[str, Any]:
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ControlError("The control request's body is not JSON.") from None
    if not isinstance(document, dict):
        raise ControlError("The control request's body is not a JSON object.")
    return document


def _number(document: Mapping[str, Any], name: str, default: float | None = None) -> float:
    value = document.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ControlError(f"'{name}' must be a number.")
    return float(value)


def _optional_text(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is not None and not isinstance(value, str):
        raise ControlError(f"'{name}' must be a string.")
    return value


def _state(sim: Simulator) -> dict[str, Any]:
    registry = sim.server.registry
    return {
        "now": sim.now(),
        "base_url": sim.base_url,
        "api_url": sim.api_url,
        "sign_in": sim.sign_in.value,
        "default_user": sim.default_user,
        "number_ids": sorted(registry.number_ids),
        "return_empty_state": registry.return_empty_state,
        "v1_revoke_unknown_ok": registry.v1_revoke_unknown_ok,
        "pending_faults": [kind.value for kind in sim.pending_faults],
        "auto_approve": sim.auto_approve_as,
        "big_team_ids": registry.big_team_ids,
        "apps": [
            {
                "client_id": app.client_id,
                "redirect_uris": list(app.redirect_uris),
                "expiring": app.expiring,
                "scopes": list(app.scopes),
            }
            for app in registry.apps.values()
        ],
        "users": [
            {"user_id": user.user_id, "name": user.name, "team_ids": list(user.team_ids)}
            for user in registry.users.values()
        ],
        "teams": [{"team_id": t.team_id, "name": t.name} for t in registry.teams.values()],
    }


def handle_control(sim: Simulator, method: str, path: str, body: bytes) -> HttpResponse:
    """Answer one control request (``path`` is the part after ``/_simulator``)."""
    route = (method, path.rstrip("/"))
    document = _document(body) if method == "POST" else {}
    if route == ("GET", "/state"):
        return control_answer(200, _state(sim))
    if route == ("POST", "/clock/advance"):
        return control_answer(200, {"now": sim.advance(_number(document, "seconds"))})
    if route == ("POST", "/faults"):
        count = _number(document, "count", 1)
        if count != int(count):
            raise ControlError("'count' must be a whole number.")
        seconds = document.get("seconds")
        sim.inject_fault(
            str(document.get("kind")),
            int(count),
            seconds=None if seconds is None else _number(document, "seconds"),
        )
        return control_answer(204)
    if route == ("DELETE", "/faults"):
        sim.clear_faults()
        return control_answer(204)
    if route == ("POST", "/auto-approve"):
        sim.auto_approve(_optional_text(document, "user_id"), _optional_text(document, "team_id"))
        return control_answer(204)
    if route == ("DELETE", "/auto-approve"):
        sim.manual_approve()
        return control_answer(204)
    if route == ("GET", "/log"):
        return control_answer(200, {"requests": [entry.to_json() for entry in sim.log]})
    if route == ("DELETE", "/log"):
        sim.clear_log()
        return control_answer(204)
    if route == ("POST", "/big-team-ids"):
        sim.server.set_big_team_ids(bool(document.get("enabled", True)))
        return control_answer(204)
    if route == ("POST", "/settings"):
        _settings(sim, document)
        return control_answer(200, _state(sim))
    if route == ("POST", "/sessions"):
        user_id = _optional_text(document, "user_id") or sim.default_user
        return control_answer(201, {"cookie": SESSION_COOKIE, "value": sim.sign_in_as(user_id)})
    if route == ("POST", "/apps"):
        return control_answer(201, _register(sim, document))
    return control_answer(404, {"error": f"No control {method} {path}."})


def _settings(sim: Simulator, document: Mapping[str, Any]) -> None:
    fields = document.get("number_ids")
    if fields is not None:
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ControlError("'number_ids' must be a list of ID names.")
        sim.server.set_number_ids(fields)
    for name, setter in (
        ("return_empty_state", sim.server.set_return_empty_state),
        ("v1_revoke_unknown_ok", sim.server.set_v1_revoke_unknown_ok),
    ):
        value = document.get(name)
        if value is not None:
            if not isinstance(value, bool):
                raise ControlError(f"'{name}' must be true or false.")
            setter(value)
    mode = document.get("sign_in")
    if mode is not None:
        sim.sign_in = SignIn(mode)


def _register(sim: Simulator, document: Mapping[str, Any]) -> dict[str, Any]:
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise ControlError("'redirect_uris' must be a non-empty list of strings.")
    scopes = document.get("scopes", ["boards:read", "boards:write"])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ControlError("'scopes' must be a list of strings.")
    app = sim.register_app(
        uris,
        client_id=_optional_text(document, "client_id"),
        client_secret=_optional_text(document, "client_secret"),
        expiring=bool(document.get("expiring", True)),
        scopes=tuple(scopes),
        name=_optional_text(document, "name") or "Simulated app",
    )
    return {
        "client_id": app.client_id,
        "client_secret": app.client_secret.reveal(),
        "redirect_uris": list(app.redirect_uris),
        "expiring": app.expiring,
    }
