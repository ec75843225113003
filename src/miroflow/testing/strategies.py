"""Hypothesis strategies for miroflow's values: flows, token sets, callbacks, token responses
and clock moves. Use them to property-test an app, an adapter or a store."""

from __future__ import annotations

import json
from typing import Any

try:
    from hypothesis import strategies as st
except ModuleNotFoundError as missing:  # without the testing extra: say which to install
    from miroflow.testing import _needs_testing_extra

    raise _needs_testing_extra(__name__, missing) from None

from miroflow import Flow, FlowState, HttpResponse, TokenSet
from miroflow.machine import hash_binding, hash_state

__all__ = [
    "callback_queries",
    "clock_moves",
    "decimal_ids",
    "flows",
    "hashes",
    "instants",
    "junk_queries",
    "printable_ascii",
    "state_hashes",
    "token_responses",
    "token_sets",
    "tokens",
]

#: Instants around "now" in a sensible range of Unix time, as floats.
instants = st.floats(min_value=1.0e9, max_value=4.0e9, allow_nan=False, allow_infinity=False)

printable_ascii = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64
)
tokens = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    min_size=43,
    max_size=64,
)
decimal_ids = st.integers(min_value=1, max_value=2**70).map(str)
#: Binding hashes and state hashes, as flows hold them.
hashes = tokens.map(hash_binding)
state_hashes = tokens.map(lambda state: hash_state("3074457363680401096", state))


@st.composite
def flows(draw: st.DrawFn, state: FlowState | None = None) -> Flow:
    """Any storable flow snapshot (optionally in one state): no raw state or binding, which
    only a pending flow holds in memory and no store ever sees."""
    created = draw(instants)
    chosen = state if state is not None else draw(st.sampled_from(FlowState))
    return Flow(
        state=chosen,
        state_hash=draw(state_hashes),
        binding_hash=draw(st.none() | hashes),
        created_at=created,
        deadline=created + draw(st.floats(min_value=1, max_value=3600)),
        requested_team_id=draw(st.none() | decimal_ids),
        return_path=draw(st.none() | st.sampled_from(["/", "/boards", "/after?x=1"])),
        code_verifier=draw(st.none() | tokens),
    )


@st.composite
def token_sets(draw: st.DrawFn) -> TokenSet:
    """Any token set, expiring or not."""
    obtained = draw(instants)
    expiring = draw(st.booleans())
    return TokenSet(
        client_id=draw(decimal_ids),
        access_token=draw(tokens),
        refresh_token=draw(tokens) if expiring else draw(st.none() | tokens),
        user_id=draw(decimal_ids),
        team_id=draw(decimal_ids),
        scopes=tuple(
            draw(
                st.lists(
                    st.sampled_from(["boards:read", "boards:write", "identity:read", "team:read"]),
                    unique=True,
                    max_size=4,
                )
            )
        ),
        obtained_at=obtained,
        expires_at=obtained + draw(st.integers(1, 3599)) if expiring else None,
    )


def clock_moves(max_step: float = 1200.0) -> st.SearchStrategy[float]:
    """Non-negative steps of the clock, biased towards the interesting deadlines."""
    return st.one_of(
        st.floats(min_value=0, max_value=max_step, allow_nan=False),
        st.sampled_from([0.0, 0.001, 599.999, 600.0, 600.001, 899.999, 900.0, 900.001]),
    )


@st.composite
def callback_queries(
    draw: st.DrawFn,
    *,
    state: str | None = None,
    client_id: str | None = None,
) -> str:
    """Well-formed callback query strings, as Miro sends them (success or RFC 6749 error)."""
    params: list[tuple[str, str]] = []
    if draw(st.booleans()):
        params.append(
            (
                "code",
                draw(
                    printable_ascii.filter(
                        lambda s: "&" not in s and "=" not in s and "%" not in s and "+" not in s
                    )
                ),
            )
        )
    else:
        params.append(
            (
                "error",
                draw(
                    st.sampled_from(
                        [
                            "access_denied",
                            "invalid_request",
                            "server_error",
                            "temporarily_unavailable",
                        ]
                    )
                ),
            )
        )
    if state is not None:
        params.append(("state", state))
    params.append(("client_id", client_id or draw(decimal_ids)))
    params.append(("team_id", draw(decimal_ids)))
    order = draw(st.permutations(params))
    return "&".join(f"{name}={value}" for name, value in order)


junk_queries = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.tuples(
            st.sampled_from(
                ["code", "state", "client_id", "team_id", "error", "error_description", "x", ""]
            ),
            st.text(max_size=40),
        ),
        max_size=8,
    ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
    st.binary(max_size=200),
)


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=20),
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=3)
        ),
        max_leaves=8,
    )


@st.composite
def token_responses(draw: st.DrawFn) -> HttpResponse:
    """Token-endpoint answers: valid ones, Miro- and RFC-shaped errors, valid ones with one
    field missing or holding any JSON value, and garbage."""
    kind = draw(st.sampled_from(["valid", "miro_error", "rfc_error", "mutated", "garbage"]))
    valid: dict[str, Any] = {
        "user_id": draw(decimal_ids),
        "access_token": draw(tokens),
        "refresh_token": draw(tokens),
        "expires_in": 3599,
        "team_id": draw(decimal_ids),
        "scope": "boards:write boards:read",
        "token_type": "bearer",
    }
    if kind == "valid":
        return HttpResponse(status=200, body=json.dumps(valid).encode())
    if kind == "miro_error":
        body = {
            "status": 401,
            "code": "oauthError",
            "message": "Invalid authorization code",
            "type": "error",
        }
        return HttpResponse(status=401, body=json.dumps(body).encode())
    if kind == "rfc_error":
        body = {"error": "invalid_grant", "error_description": "code expired"}
        return HttpResponse(
            status=draw(st.sampled_from([200, 400])), body=json.dumps(body).encode()
        )
    if kind == "mutated":
        key = draw(st.sampled_from(sorted(valid)))
        if draw(st.booleans()):
            del valid[key]
        else:
            valid[key] = draw(_json_values())
        return HttpResponse(status=200, body=json.dumps(valid).encode())
    return HttpResponse(status=draw(st.integers(100, 599)), body=draw(st.binary(max_size=200)))
