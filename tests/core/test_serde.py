"""Storage records: round-trips, schema versions, and corrupt records that fail with a
RecordError naming the field, never its value."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import miroflow
from miroflow.testing import strategies

#: A value that looks like a secret; it must never appear in an error message.
MARKER = "SeCrEtMaRkEr-9f3a1c"

FLOW = miroflow.Flow(
    state=miroflow.FlowState.CODE_RECEIVED,
    state_hash="a" * 64,
    binding_hash="b" * 64,
    created_at=1_700_000_000.0,
    deadline=1_700_000_900.0,
    requested_team_id="3074457362577833142",
    return_path="/boards",
    code_verifier="v" * 43,
    code="eyJtaXJv",
    code_received_at=1_700_000_100.5,
    team_id="3074457362577833142",
)
TOKENS = miroflow.TokenSet(
    access_token="eyJhY2Nlc3M",
    refresh_token="eyJyZWZyZXNo",
    user_id="3458764517517852417",
    team_id="3458764517517819000",
    scopes=("boards:read", "boards:write"),
    obtained_at=1_700_000_000.0,
    expires_at=1_700_003_599.0,
)

Kind = tuple[
    Callable[[Any], dict[str, Any]],
    Callable[[Mapping[str, Any]], Any],
    Callable[[Any], bytes],
    Callable[[bytes | str], Any],
]
FLOW_KIND: Kind = (
    miroflow.flow_to_record,
    miroflow.flow_from_record,
    miroflow.dumps_flow,
    miroflow.loads_flow,
)
TOKEN_KIND: Kind = (
    miroflow.tokens_to_record,
    miroflow.tokens_from_record,
    miroflow.dumps_tokens,
    miroflow.loads_tokens,
)


def _record_error(read: Callable[[Any], Any], record: Any) -> str:
    with pytest.raises(miroflow.RecordError) as caught:
        read(record)
    error = caught.value
    assert isinstance(error, miroflow.StoreError)
    assert error.code == "record_error"
    assert MARKER not in f"{error} {error!r} {error.args}"
    assert error.__cause__ is None or MARKER not in str(error.__cause__)
    return error.message


# --- round trips ---------------------------------------------------------------------------


@given(strategies.flows())
def test_flows_round_trip_through_records(flow: miroflow.Flow) -> None:
    record = miroflow.flow_to_record(flow)
    assert record["v"] == miroflow.SCHEMA_VERSION
    json.dumps(record, allow_nan=False)  # plain JSON, no NaN or Infinity
    assert miroflow.flow_from_record(record) == flow
    assert miroflow.flow_from_record(json.loads(json.dumps(record))) == flow


@given(strategies.flows())
def test_flows_round_trip_through_bytes(flow: miroflow.Flow) -> None:
    data = miroflow.dumps_flow(flow)
    assert isinstance(data, bytes)
    assert miroflow.loads_flow(data) == flow
    assert miroflow.loads_flow(data.decode()) == flow


@given(strategies.token_sets())
def test_token_sets_round_trip_through_records(tokens: miroflow.TokenSet) -> None:
    record = miroflow.tokens_to_record(tokens)
    assert record["v"] == miroflow.SCHEMA_VERSION
    json.dumps(record, allow_nan=False)
    assert miroflow.tokens_from_record(record) == tokens
    assert miroflow.loads_tokens(miroflow.dumps_tokens(tokens)) == tokens
    assert miroflow.loads_tokens(miroflow.dumps_tokens(tokens).decode()) == tokens


@pytest.mark.parametrize("state", list(miroflow.FlowState))
def test_every_state_round_trips(state: miroflow.FlowState) -> None:
    flow = attrs.evolve(FLOW, state=state)
    assert miroflow.loads_flow(miroflow.dumps_flow(flow)) == flow
    assert miroflow.flow_to_record(flow)["state"] == state.value


def test_records_are_plain_json_objects() -> None:
    record = miroflow.flow_to_record(FLOW)
    assert record["state"] == "code_received"
    assert set(record) == {field.name for field in attrs.fields(miroflow.Flow)} | {"v"}
    record = miroflow.tokens_to_record(TOKENS)
    assert record["scopes"] == ["boards:read", "boards:write"]


def test_integral_times_written_by_another_tool_are_read() -> None:
    record = dict(miroflow.tokens_to_record(TOKENS), obtained_at=1_700_000_000)
    tokens = miroflow.tokens_from_record(record)
    assert tokens.obtained_at == 1_700_000_000.0
    assert isinstance(tokens.obtained_at, float)


# --- schema versions ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", [FLOW_KIND, TOKEN_KIND], ids=["flow", "tokens"])
def test_a_newer_schema_version_says_so(kind: Kind) -> None:
    to_record, from_record, _, _ = kind
    newer = miroflow.SCHEMA_VERSION + 1
    record = dict(to_record(FLOW if kind is FLOW_KIND else TOKENS), v=newer)
    message = _record_error(from_record, record)
    assert str(newer) in message
    assert "newer" in message
    assert "Upgrade" in message


@pytest.mark.parametrize("kind", [FLOW_KIND, TOKEN_KIND], ids=["flow", "tokens"])
@pytest.mark.parametrize("version", [0, -1])
def test_an_unknown_schema_version_says_so(kind: Kind, version: int) -> None:
    to_record, from_record, _, _ = kind
    record = dict(to_record(FLOW if kind is FLOW_KIND else TOKENS), v=version)
    message = _record_error(from_record, record)
    assert "unknown schema version" in message


@pytest.mark.parametrize("kind", [FLOW_KIND, TOKEN_KIND], ids=["flow", "tokens"])
@pytest.mark.parametrize("version", [None, "1", 1.0, True, [1], MARKER])
def test_a_missing_or_mistyped_version_is_an_error(kind: Kind, version: Any) -> None:
    to_record, from_record, _, _ = kind
    record = dict(to_record(FLOW if kind is FLOW_KIND else TOKENS), v=version)
    if version is None:
        del record["v"]
    assert "schema version" in _record_error(from_record, record)


# --- corrupt records -----------------------------------------------------------------------

STRING_JUNK = [12345, 1.5, True, [MARKER], {"value": MARKER}]
TIME_JUNK = [MARKER, "1700000000", True, [1.0], {"at": MARKER}, math.nan, math.inf, -math.inf]

FLOW_STRINGS = ["state_hash", "binding_hash", "requested_team_id", "return_path"]
FLOW_STRINGS += ["code_verifier", "code", "team_id", "failure"]
FLOW_TIMES = ["created_at", "deadline", "code_received_at"]
TOKEN_STRINGS = ["access_token", "refresh_token", "token_type", "user_id", "team_id"]
TOKEN_TIMES = ["obtained_at", "expires_at"]


def _wrong_types() -> list[Any]:
    cases: list[Any] = []
    for kind, value, fields, junk in (
        (FLOW_KIND, FLOW, FLOW_STRINGS, STRING_JUNK),
        (FLOW_KIND, FLOW, FLOW_TIMES, TIME_JUNK),
        (TOKEN_KIND, TOKENS, TOKEN_STRINGS, STRING_JUNK),
        (TOKEN_KIND, TOKENS, TOKEN_TIMES, TIME_JUNK),
    ):
        for field in fields:
            for bad in junk:
                name = f"{type(value).__name__}.{field}={bad!r}"
                cases.append(pytest.param(kind, value, field, bad, id=name))
    for bad in [MARKER, 7, None, [MARKER], "PENDING"]:
        cases.append(pytest.param(FLOW_KIND, FLOW, "state", bad, id=f"Flow.state={bad!r}"))
    for bad in [MARKER, f"{MARKER} boards:read", [1], [MARKER, 2], {"s": MARKER}, [[MARKER]]]:
        cases.append(pytest.param(TOKEN_KIND, TOKENS, "scopes", bad, id=f"scopes={bad!r}"))
    return cases


@pytest.mark.parametrize(("kind", "value", "field", "bad"), _wrong_types())
def test_wrong_types_are_record_errors_naming_the_field(
    kind: Kind, value: Any, field: str, bad: Any
) -> None:
    to_record, from_record, _, _ = kind
    record = dict(to_record(value), **{field: bad})
    message = _record_error(from_record, record)
    assert field in message
    assert "corrupt" in message


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        *((FLOW_KIND, FLOW, field) for field in ["state", "state_hash", "binding_hash"]),
        *((FLOW_KIND, FLOW, field) for field in ["created_at", "deadline"]),
        *((TOKEN_KIND, TOKENS, field) for field in ["access_token", "user_id", "team_id"]),
        (TOKEN_KIND, TOKENS, "obtained_at"),
    ],
)
def test_missing_required_fields_are_record_errors(kind: Kind, value: Any, field: str) -> None:
    to_record, from_record, _, _ = kind
    record = to_record(value)
    del record[field]
    message = _record_error(from_record, record)
    assert field in message


@pytest.mark.parametrize("kind", [FLOW_KIND, TOKEN_KIND], ids=["flow", "tokens"])
def test_extra_fields_are_record_errors(kind: Kind) -> None:
    to_record, from_record, _, _ = kind
    record = dict(to_record(FLOW if kind is FLOW_KIND else TOKENS), surprise=MARKER)
    assert "surprise" in _record_error(from_record, record)


@pytest.mark.parametrize("kind", [FLOW_KIND, TOKEN_KIND], ids=["flow", "tokens"])
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"not json",
        f'{{"v": 1, "code": "{MARKER}"'.encode(),
        b"\xff\xfe{}",
        b"[" * 100_000,
        b'{"v": NaN}',
    ],
)
def test_data_that_is_not_json_is_a_record_error(kind: Kind, data: bytes) -> None:
    _, _, _, loads = kind
    _record_error(loads, data)


@pytest.mark.parametrize("kind", [FLOW_KIND, TOKEN_KIND], ids=["flow", "tokens"])
@pytest.mark.parametrize("data", ["[]", "null", "1", f'"{MARKER}"', f'["{MARKER}"]'])
def test_json_that_is_not_an_object_is_a_record_error(kind: Kind, data: str) -> None:
    _, from_record, _, loads = kind
    assert "object" in _record_error(loads, data)
    assert "object" in _record_error(from_record, json.loads(data))


def _outcome(read: Callable[[Any], Any], record: Any) -> Any:
    try:
        return read(record)
    except miroflow.RecordError as error:  # anything else escapes and fails the test
        return error


# Every string carries the marker, so an error message that echoes a value is caught.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10).map(lambda text: MARKER + text),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@given(
    flow=strategies.flows(),
    field=st.sampled_from([field.name for field in attrs.fields(miroflow.Flow)] + ["v", "x"]),
    junk=json_values,
)
def test_mutated_flow_records_load_or_fail_typed(
    flow: miroflow.Flow, field: str, junk: Any
) -> None:
    record = dict(miroflow.flow_to_record(flow), **{field: junk})
    loaded = _outcome(miroflow.flow_from_record, record)
    if isinstance(loaded, miroflow.RecordError):
        message = loaded.message
    else:
        # Whatever loads has the declared types: nothing was coerced on the way in.
        assert isinstance(loaded, miroflow.Flow)
        assert isinstance(loaded.state, miroflow.FlowState)
        assert isinstance(loaded.state_hash, str)
        assert isinstance(loaded.created_at, float)
        assert math.isfinite(loaded.created_at)
        assert math.isfinite(loaded.deadline)
        message = ""
    assert MARKER not in message


@given(
    tokens=strategies.token_sets(),
    field=st.sampled_from([field.name for field in attrs.fields(miroflow.TokenSet)]),
    junk=json_values,
)
def test_mutated_token_records_load_or_fail_typed(
    tokens: miroflow.TokenSet, field: str, junk: Any
) -> None:
    record = dict(miroflow.tokens_to_record(tokens), **{field: junk})
    loaded = _outcome(miroflow.tokens_from_record, record)
    if isinstance(loaded, miroflow.RecordError):
        assert MARKER not in loaded.message
        return
    assert isinstance(loaded.access_token, str)
    assert all(isinstance(scope, str) for scope in loaded.scopes)
    assert isinstance(loaded.scopes, tuple)
    assert loaded.expires_at is None or math.isfinite(loaded.expires_at)
