"""Storage records: round-trips, schema versions (reading version 1, refusing newer ones),
digests, raw values that never reach a record, and corrupt records that fail with a RecordError
naming the field, never its value."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import miroflow
import miroflow.machine
import miroflow.records
from miroflow.testing import strategies

#: A value that looks like a secret; it must never appear in an error message.
MARKER = "SeCrEtMaRkEr-9f3a1c"

CLIENT_ID = "3074457363680401096"
CONFIG = miroflow.ClientConfig(
    client_id=CLIENT_ID,
    client_secret="sEcReT-never-stored",
    redirect_uri="https://app.example.com/miro/callback/",
    pkce=True,
)
#: What ``FlowStarted`` cuts the state, the binding and the verifier from.
ENTROPY = bytes(range(miroflow.machine.ENTROPY_BYTES))

FLOW = miroflow.Flow(
    state=miroflow.FlowState.REDIRECTED,
    state_hash=miroflow.machine.hash_state(CLIENT_ID, "the-raw-state"),
    binding_hash=miroflow.machine.hash_binding("the-raw-binding"),
    created_at=1_700_000_000.0,
    deadline=1_700_000_900.0,
    requested_team_id="3074457362577833142",
    return_path="/boards",
    code_verifier="v" * 43,
)
TOKENS = miroflow.TokenSet(
    client_id=CLIENT_ID,
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
    miroflow.records.flow_to_record,
    miroflow.records.flow_from_record,
    miroflow.records.dumps_flow,
    miroflow.records.loads_flow,
)
TOKEN_KIND: Kind = (
    miroflow.records.tokens_to_record,
    miroflow.records.tokens_from_record,
    miroflow.records.dumps_tokens,
    miroflow.records.loads_tokens,
)


def _record_error(read: Callable[[Any], Any], record: Any) -> str:
    with pytest.raises(miroflow.RecordError) as caught:
        read(record)
    error = caught.value
    assert isinstance(error, miroflow.StoreError)
    assert error.code == "record_error"
    assert MARKER not in f"{error} {error!r} {error.args} {error.detail} {error.message}"
    assert error.__cause__ is None or MARKER not in str(error.__cause__)
    # The detail is the operator's; the person reads the store's fixed text.
    assert str(error) == error.detail
    assert error.detail not in error.message
    return error.detail


def _pending_flow() -> miroflow.Flow:
    """A pending flow as the machine makes it: it holds the raw state and binding, in memory."""
    started = miroflow.machine.FlowStarted(
        entropy=ENTROPY, team_id="3074457362577833142", return_path="/boards"
    )
    flow = miroflow.machine.step(None, started, config=CONFIG, now=1_700_000_000.0).flow
    assert flow.state is miroflow.FlowState.PENDING
    assert flow.state_token is not None
    assert flow.binding is not None
    return flow


#: The fields of a stored flow: every field but the raw values only a pending flow holds.
STORED_FLOW_FIELDS = {field.name for field in attrs.fields(miroflow.Flow)} - {
    "state_token",
    "binding",
}


# --- round trips ---------------------------------------------------------------------------


@given(strategies.flows())
def test_flows_round_trip_through_records(flow: miroflow.Flow) -> None:
    record = miroflow.records.flow_to_record(flow)
    assert record["v"] == miroflow.records.SCHEMA_VERSION
    json.dumps(record, allow_nan=False)  # plain JSON, no NaN or Infinity
    assert miroflow.records.flow_from_record(record) == flow
    assert miroflow.records.flow_from_record(json.loads(json.dumps(record))) == flow


@given(strategies.flows())
def test_flows_round_trip_through_bytes(flow: miroflow.Flow) -> None:
    data = miroflow.records.dumps_flow(flow)
    assert isinstance(data, bytes)
    assert miroflow.records.loads_flow(data) == flow
    assert miroflow.records.loads_flow(data.decode()) == flow


@given(strategies.token_sets())
def test_token_sets_round_trip_through_records(tokens: miroflow.TokenSet) -> None:
    record = miroflow.records.tokens_to_record(tokens)
    assert record["v"] == miroflow.records.SCHEMA_VERSION
    json.dumps(record, allow_nan=False)
    assert miroflow.records.tokens_from_record(record) == tokens
    assert miroflow.records.loads_tokens(miroflow.records.dumps_tokens(tokens)) == tokens
    assert miroflow.records.loads_tokens(miroflow.records.dumps_tokens(tokens).decode()) == tokens


@pytest.mark.parametrize("state", list(miroflow.FlowState))
def test_every_state_round_trips(state: miroflow.FlowState) -> None:
    flow = attrs.evolve(FLOW, state=state)
    assert miroflow.records.loads_flow(miroflow.records.dumps_flow(flow)) == flow
    assert miroflow.records.flow_to_record(flow)["state"] == state.value


def test_records_are_plain_json_objects_of_schema_version_2() -> None:
    assert miroflow.records.SCHEMA_VERSION == 2
    record = miroflow.records.flow_to_record(FLOW)
    assert record["v"] == 2
    assert record["state"] == "redirected"
    assert set(record) == STORED_FLOW_FIELDS | {"v"}
    assert record["state_hash"] == FLOW.state_hash.hex()
    record = miroflow.records.tokens_to_record(TOKENS)
    assert record["client_id"] == CLIENT_ID
    assert record["scopes"] == ["boards:read", "boards:write"]
    assert set(record) == {field.name for field in attrs.fields(miroflow.TokenSet)} | {"v"}


# --- digests -------------------------------------------------------------------------------


#: Digest sizes, in bytes: a state hash is a whole SHA-256 digest, a binding hash what
#: ``hash_binding`` keeps of one.
STATE_HASH_SIZE = len(miroflow.machine.hash_state(CLIENT_ID, "x"))
BINDING_HASH_SIZE = len(miroflow.machine.hash_binding("x"))


@given(
    state_token=strategies.tokens,
    client_id=strategies.decimal_ids,
    binding=st.none() | strategies.tokens,
)
def test_digests_round_trip_as_lowercase_hex(
    state_token: str, client_id: str, binding: str | None
) -> None:
    state_hash = miroflow.machine.hash_state(client_id, state_token)
    binding_hash = None if binding is None else miroflow.machine.hash_binding(binding)
    flow = attrs.evolve(FLOW, state_hash=state_hash, binding_hash=binding_hash)
    record = miroflow.records.flow_to_record(flow)
    assert record["state_hash"] == state_hash.hex()
    assert len(record["state_hash"]) == 2 * STATE_HASH_SIZE == 64
    assert record["binding_hash"] == (None if binding_hash is None else binding_hash.hex())
    loaded = miroflow.records.loads_flow(miroflow.records.dumps_flow(flow))
    assert loaded == flow
    assert isinstance(loaded.state_hash, bytes)
    assert loaded.state_hash == state_hash
    assert loaded.binding_hash == binding_hash
    assert loaded.flow_id == state_hash.hex()[:12]


def _bad_digests(field: str, size: int, other: int) -> list[Any]:
    """Text that is not the hex of a ``size``-byte digest: wrong lengths, the other field's
    size, non-hex, and ``2 * size`` characters that hold ``size - 1`` bytes (``bytes.fromhex``
    skips ASCII whitespace)."""
    short = ("0123456789abcdef" * 8)[: 2 * (size - 1)]
    cases = {
        "empty": "",
        "odd-length": short + "e",
        f"{size - 1}-bytes": short,
        f"{size + 1}-bytes": short + "ef01",
        f"{other}-bytes": ("fedcba9876543210" * 8)[: 2 * other],
        "not-hex": ("0123456789abcdeg" * 8)[: 2 * size],
        f"{size - 1}-bytes-and-2-spaces": short + "  ",
        f"{size - 1}-bytes-after-whitespace": " \t" + short,
        f"{size - 1}-bytes-newline-inside": short[:8] + "\n\n" + short[8:],
    }
    return [pytest.param(field, bad, id=f"{field}-{name}") for name, bad in cases.items()]


@pytest.mark.parametrize(
    ("field", "bad"),
    _bad_digests("state_hash", STATE_HASH_SIZE, BINDING_HASH_SIZE)
    + _bad_digests("binding_hash", BINDING_HASH_SIZE, STATE_HASH_SIZE),
)
def test_a_digest_of_the_wrong_length_is_a_record_error_naming_the_field(
    field: str, bad: str
) -> None:
    record = dict(miroflow.records.flow_to_record(FLOW), **{field: bad})
    detail = _record_error(miroflow.records.flow_from_record, record)
    assert field in detail
    assert "corrupt" in detail
    if bad.strip():
        assert bad not in detail
        assert bad.strip()[:8] not in detail
    # The same through the bytes API.
    _record_error(miroflow.records.loads_flow, json.dumps(record))


# --- raw values never reach a record ---------------------------------------------------------


def test_the_raw_state_and_binding_of_a_pending_flow_never_reach_a_record() -> None:
    flow = _pending_flow()
    state_token, binding = flow.state_token, flow.binding
    assert state_token is not None and binding is not None
    data = miroflow.records.dumps_flow(flow)
    text = data.decode()
    assert state_token not in text
    assert binding not in text
    record = json.loads(data)
    assert set(record) == STORED_FLOW_FIELDS | {"v"}
    assert "state_token" not in record
    assert "binding" not in record
    assert state_token not in json.dumps(miroflow.records.flow_to_record(flow))
    # Only their digests are kept, keyed by the app.
    assert record["state_hash"] == miroflow.machine.hash_state(CLIENT_ID, state_token).hex()
    assert record["binding_hash"] == miroflow.machine.hash_binding(binding).hex()
    # What comes back is the flow without its raw values.
    loaded = miroflow.records.loads_flow(data)
    assert loaded == attrs.evolve(flow, state_token=None, binding=None)
    assert loaded.state_token is None
    assert loaded.binding is None


@given(flow=strategies.flows(), state_token=strategies.tokens, binding=strategies.tokens)
def test_raw_values_never_reach_a_record_of_any_flow(
    flow: miroflow.Flow, state_token: str, binding: str
) -> None:
    holding = attrs.evolve(flow, state_token=state_token, binding=binding)
    # The record is exactly that of the flow without its raw values.
    assert miroflow.records.dumps_flow(holding) == miroflow.records.dumps_flow(flow)
    assert miroflow.records.flow_to_record(holding) == miroflow.records.flow_to_record(flow)
    assert miroflow.records.loads_flow(miroflow.records.dumps_flow(holding)) == flow


@pytest.mark.parametrize("field", ["state_token", "binding"])
def test_a_record_carrying_a_raw_value_is_refused(field: str) -> None:
    record = dict(miroflow.records.flow_to_record(FLOW), **{field: MARKER})
    assert field in _record_error(miroflow.records.flow_from_record, record)


def test_integral_times_written_by_another_tool_are_read() -> None:
    record = dict(miroflow.records.tokens_to_record(TOKENS), obtained_at=1_700_000_000)
    tokens = miroflow.records.tokens_from_record(record)
    assert tokens.obtained_at == 1_700_000_000.0
    assert isinstance(tokens.obtained_at, float)


# --- schema versions ----------------------------------------------------------------------

#: A flow record as miroflow 0.1 wrote it: whole hex SHA-256 digests of the raw state (without
#: the client id) and binding, and the fields of the old code-expiry row.
V1_STATE, V1_BINDING = "the-old-raw-state", "the-old-raw-binding"
V1_FLOW: dict[str, Any] = {
    "state": "code_received",
    "state_hash": hashlib.sha256(V1_STATE.encode()).hexdigest(),
    "binding_hash": hashlib.sha256(V1_BINDING.encode()).hexdigest(),
    "created_at": 1_700_000_000.0,
    "deadline": 1_700_000_900.0,
    "requested_team_id": "3074457362577833142",
    "return_path": "/boards",
    "code_verifier": "v" * 43,
    "code": "eyJtaXJv",
    "code_received_at": 1_700_000_100.5,
    "team_id": "3074457362577833142",
    "failure": None,
    "v": 1,
}
#: A token record as miroflow 0.1 wrote it: no client id.
V1_TOKENS: dict[str, Any] = {
    "access_token": "eyJhY2Nlc3M",
    "refresh_token": "eyJyZWZyZXNo",
    "token_type": "bearer",
    "user_id": "3458764517517852417",
    "team_id": "3458764517517819000",
    "scopes": ["boards:read", "boards:write"],
    "obtained_at": 1_700_000_000.0,
    "expires_at": 1_700_003_599.0,
    "v": 1,
}


def test_a_version_1_flow_record_loads_without_its_old_fields() -> None:
    flow = miroflow.records.flow_from_record(V1_FLOW)
    assert flow == miroflow.Flow(
        state=miroflow.FlowState.CODE_RECEIVED,
        state_hash=bytes.fromhex(V1_FLOW["state_hash"]),
        # The browser that started it is still recognised by its cookie.
        binding_hash=miroflow.machine.hash_binding(V1_BINDING),
        created_at=1_700_000_000.0,
        deadline=1_700_000_900.0,
        requested_team_id="3074457362577833142",
        return_path="/boards",
        code_verifier="v" * 43,
        # The team its callback named: version 2 keeps it too (the tokens' team must agree).
        team_id="3074457362577833142",
    )
    assert miroflow.records.loads_flow(json.dumps(V1_FLOW)) == flow
    # Its state hash was computed without the client id: no callback can claim it again.
    assert flow.state_hash != miroflow.machine.hash_state(CLIENT_ID, V1_STATE)
    # Written back, it is a version 2 record without the old fields.
    record = miroflow.records.flow_to_record(flow)
    assert record["v"] == 2
    assert set(record) == STORED_FLOW_FIELDS | {"v"}
    for old in ("code", "code_received_at", "failure"):
        assert old not in record
    assert "eyJtaXJv" not in miroflow.records.dumps_flow(flow).decode()


@pytest.mark.parametrize("state", list(miroflow.FlowState))
def test_version_1_flow_records_load_in_every_state_with_or_without_old_fields(
    state: miroflow.FlowState,
) -> None:
    bare = {k: v for k, v in V1_FLOW.items() if k not in ("code", "code_received_at")}
    for record in (V1_FLOW, dict(V1_FLOW, failure="flow_expired"), bare):
        assert miroflow.records.flow_from_record(dict(record, state=state.value)).state is state
    unsolicited = dict(V1_FLOW, binding_hash=None)
    assert miroflow.records.flow_from_record(unsolicited).binding_hash is None


def test_a_version_1_token_record_needs_the_app_it_belongs_to() -> None:
    detail = _record_error(miroflow.records.tokens_from_record, V1_TOKENS)
    assert "client_id" in detail
    assert "version 1" in detail
    _record_error(miroflow.records.loads_tokens, json.dumps(V1_TOKENS))


def test_a_version_1_token_record_read_with_a_client_id_carries_it() -> None:
    tokens = miroflow.records.tokens_from_record(V1_TOKENS, client_id=CLIENT_ID)
    assert tokens == TOKENS
    assert tokens.client_id == CLIENT_ID
    assert tokens.key == miroflow.TokenKey(
        client_id=CLIENT_ID, user_id=TOKENS.user_id, team_id=TOKENS.team_id
    )
    data = json.dumps(V1_TOKENS)
    assert miroflow.records.loads_tokens(data, client_id=CLIENT_ID) == TOKENS
    assert miroflow.records.loads_tokens(data.encode(), client_id="42").client_id == "42"
    # Written back, it is a version 2 record that needs no client id to read.
    written = miroflow.records.dumps_tokens(tokens)
    assert json.loads(written)["v"] == 2
    assert json.loads(written)["client_id"] == CLIENT_ID
    assert miroflow.records.loads_tokens(written) == tokens


def test_a_version_2_token_record_is_read_only_for_its_own_app() -> None:
    data = miroflow.records.dumps_tokens(TOKENS)
    assert miroflow.records.loads_tokens(data, client_id=CLIENT_ID) == TOKENS
    detail = _record_error(lambda raw: miroflow.records.loads_tokens(raw, client_id="42"), data)
    assert "another app" in detail
    record = miroflow.records.tokens_to_record(TOKENS)
    with pytest.raises(miroflow.RecordError):
        miroflow.records.tokens_from_record(record, client_id="42")


@pytest.mark.parametrize(
    ("read", "record", "field"),
    [
        (miroflow.records.flow_from_record, dict(V1_FLOW, surprise=MARKER), "surprise"),
        (miroflow.records.flow_from_record, dict(V1_FLOW, state_hash=MARKER), "state_hash"),
        (
            lambda record: miroflow.records.tokens_from_record(record, client_id=CLIENT_ID),
            dict(V1_TOKENS, access_token=12345),
            "access_token",
        ),
    ],
    ids=["flow-extra-field", "flow-bad-digest", "tokens-bad-token"],
)
def test_a_version_1_record_is_still_checked(read: Any, record: Any, field: str) -> None:
    assert field in _record_error(read, record)


@pytest.mark.parametrize("kind", [FLOW_KIND, TOKEN_KIND], ids=["flow", "tokens"])
@pytest.mark.parametrize("version", [3, miroflow.records.SCHEMA_VERSION + 1, 10**6])
def test_a_record_from_a_newer_version_says_to_upgrade(kind: Kind, version: int) -> None:
    to_record, from_record, _, loads = kind
    record = dict(to_record(FLOW if kind is FLOW_KIND else TOKENS), v=version)
    for detail in (_record_error(from_record, record), _record_error(loads, json.dumps(record))):
        assert f"version {version}" in detail
        assert "newer" in detail
        assert "Upgrade" in detail


def test_a_newer_token_record_is_never_adopted_with_a_client_id() -> None:
    record = dict(miroflow.records.tokens_to_record(TOKENS), v=3)
    detail = _record_error(
        lambda data: miroflow.records.tokens_from_record(data, client_id=CLIENT_ID), record
    )
    assert "Upgrade" in detail


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
FLOW_STRINGS += ["code_verifier"]
FLOW_TIMES = ["created_at", "deadline"]
TOKEN_STRINGS = ["client_id", "access_token", "refresh_token", "token_type", "user_id"]
TOKEN_STRINGS += ["team_id"]
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
        *(
            (TOKEN_KIND, TOKENS, field)
            for field in ["client_id", "access_token", "user_id", "team_id"]
        ),
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
        f'{{"v": 2, "code_verifier": "{MARKER}"'.encode(),
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
#: Drawn instead of a value: the field is taken out of the record.
DELETED = object()
junk_or_deleted = st.just(DELETED) | json_values


def _mutated(record: dict[str, Any], field: str, junk: Any) -> dict[str, Any]:
    record = dict(record)
    if junk is DELETED:
        record.pop(field, None)
    else:
        record[field] = junk
    return record


@given(
    flow=strategies.flows(),
    field=st.sampled_from([field.name for field in attrs.fields(miroflow.Flow)] + ["v", "x"]),
    junk=junk_or_deleted,
)
def test_mutated_flow_records_load_or_fail_typed(
    flow: miroflow.Flow, field: str, junk: Any
) -> None:
    record = _mutated(miroflow.records.flow_to_record(flow), field, junk)
    loaded = _outcome(miroflow.records.flow_from_record, record)
    if isinstance(loaded, miroflow.RecordError):
        message = loaded.detail
    else:
        # Whatever loads has the declared types: nothing was coerced on the way in.
        assert isinstance(loaded, miroflow.Flow)
        assert isinstance(loaded.state, miroflow.FlowState)
        # No junk is the hex of a digest: the digests are the flow's own (or no binding).
        assert loaded.state_hash == flow.state_hash
        assert loaded.binding_hash in (flow.binding_hash, None)
        assert loaded.state_token is None
        assert loaded.binding is None
        assert isinstance(loaded.created_at, float)
        assert math.isfinite(loaded.created_at)
        assert math.isfinite(loaded.deadline)
        message = ""
    assert MARKER not in message


@given(
    tokens=strategies.token_sets(),
    field=st.sampled_from([field.name for field in attrs.fields(miroflow.TokenSet)] + ["v"]),
    junk=junk_or_deleted,
)
def test_mutated_token_records_load_or_fail_typed(
    tokens: miroflow.TokenSet, field: str, junk: Any
) -> None:
    record = _mutated(miroflow.records.tokens_to_record(tokens), field, junk)
    loaded = _outcome(miroflow.records.tokens_from_record, record)
    if isinstance(loaded, miroflow.RecordError):
        assert MARKER not in loaded.detail
        return
    assert isinstance(loaded.client_id, str)
    assert isinstance(loaded.access_token, str)
    assert all(isinstance(scope, str) for scope in loaded.scopes)
    assert isinstance(loaded.scopes, tuple)
    assert loaded.expires_at is None or math.isfinite(loaded.expires_at)


@given(
    flow=strategies.flows(),
    field=st.sampled_from([field.name for field in attrs.fields(miroflow.Flow)] + ["v", "x"]),
    junk=junk_or_deleted,
    mutate=st.booleans(),
)
def test_the_fast_flow_reader_gives_exactly_what_the_converter_gives(
    flow: miroflow.Flow, field: str, junk: Any, mutate: bool
) -> None:
    """flow_from_record reads a record as dumps_flow writes it without cattrs' generic
    machinery (every claim reads one); on anything else it hands over to the converter. The
    only test that reaches a private name: it holds that fast path to the reference, the
    converter, on valid and mutated records alike."""
    from miroflow import _serde

    record = miroflow.records.flow_to_record(flow)
    if mutate:
        record = _mutated(record, field, junk)
    fast = _outcome(miroflow.records.flow_from_record, record)
    reference = _outcome(lambda r: _serde._from_record(r, miroflow.Flow), record)
    if isinstance(reference, miroflow.RecordError):
        assert isinstance(fast, miroflow.RecordError)
        assert fast.detail == reference.detail
    else:
        assert fast == reference
        assert type(fast.created_at) is type(reference.created_at)
    accepted = _serde._fast_flow(record)
    assert accepted is None or accepted == reference


@given(flow=strategies.flows(), state_token=strategies.tokens, binding=strategies.tokens)
def test_the_flow_record_is_exactly_the_converters(
    flow: miroflow.Flow, state_token: str, binding: str
) -> None:
    """flow_to_record spells the record out (every start saves one); the converter is the
    reference, key order included (the bytes are what stores keep)."""
    from miroflow import _serde

    for snapshot in (flow, attrs.evolve(flow, state_token=state_token, binding=binding)):
        record = miroflow.records.flow_to_record(snapshot)
        reference = _serde._to_record(snapshot)
        assert record == reference
        assert list(record) == list(reference)
