"""How the command shows transitions and token sets: from non-secret facts only.

A token set is shown by its key, scopes, lifetimes and whether it holds a refresh token;
the tokens themselves never (``miroflow token`` prints the access token, on purpose, for a
script's ``$(...)``, and nothing else).
"""

from __future__ import annotations

import enum
from typing import Any

from rich.table import Table

from miroflow import StoredTokens, TokenSet, Transition

from ._login import clock_text

__all__ = [
    "REDACTED",
    "describe_lifetime",
    "signed_in_lines",
    "token_row",
    "token_table",
    "transition_line",
]

REDACTED = "…"


def _state(value: object) -> str:
    if value is None:
        return "(none)"
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def transition_line(transition: Transition) -> str:
    """``   <machine> before -Input-> after [Effects] reply <status>``, as it happened."""
    line = (
        f"   {transition.machine:<6} {_state(transition.before)} -{transition.input}-> "
        f"{_state(transition.after)}"
    )
    if transition.effects:
        line += f" [{', '.join(transition.effects)}]"
    if transition.reply is not None:
        line += f" reply {transition.reply}"
    return line


def describe_lifetime(tokens: TokenSet, now: float) -> str:
    """When the access token expires, relative to ``now``."""
    if tokens.expires_at is None:
        return "never expires"
    left = tokens.expires_at - now
    if left <= 0:
        return f"expired {clock_text(-left)} ago"
    return f"expires in {clock_text(left)}"


def signed_in_lines(tokens: TokenSet, now: float) -> list[str]:
    """What ``miroflow login`` prints once signed in: user, team and scopes first."""
    return [
        f"Signed in to Miro: user {tokens.user_id}, team {tokens.team_id}.",
        f"Scopes: {' '.join(tokens.scopes) or '(none)'}",
        f"Access token {describe_lifetime(tokens, now)}; refresh token "
        f"{'present' if tokens.refresh_token else 'absent'}.",
    ]


def token_row(stored: StoredTokens, now: float) -> dict[str, Any]:
    """One stored set, redacted, as ``miroflow tokens --json`` prints it."""
    tokens = stored.tokens
    return {
        "client_id": tokens.client_id,
        "user_id": tokens.user_id,
        "team_id": tokens.team_id,
        "scopes": list(tokens.scopes),
        "obtained_at": tokens.obtained_at,
        "expires_at": tokens.expires_at,
        "expired": tokens.is_expired(now),
        "refresh_token": tokens.refresh_token is not None,
        "access_token": REDACTED,
        "version": stored.version,
    }


def token_table(rows: list[StoredTokens], now: float) -> Table:
    table = Table(title="Stored Miro token sets", title_justify="left", expand=False)
    for column in ("app", "user", "team"):
        table.add_column(column, no_wrap=True)
    for column in ("scopes", "access token", "refresh", "version"):
        table.add_column(column, overflow="fold")
    for stored in rows:
        tokens = stored.tokens
        table.add_row(
            tokens.client_id,
            tokens.user_id,
            tokens.team_id,
            " ".join(tokens.scopes),
            f"{REDACTED} {describe_lifetime(tokens, now)}",
            "yes" if tokens.refresh_token else "no",
            str(stored.version),
        )
    return table
