"""Storage records: every snapshot crosses a boundary through one cattrs converter.

A record is a JSON-able dict with a schema version under ``"v"``. Reading a record written by
a newer (or unknown) version fails with ``RecordError`` instead of guessing; so does a corrupt
one. Messages name the field at fault, never its value (it may be a secret).

Version 2 (miroflow 0.2) keys everything by app: token records carry ``client_id``, and flow
hashes are raw digests over the client id and the state (hex in JSON). Version 1 records are
still read: a flow loses the fields only the old code-expiry row used; a token set needs the
client id it belongs to (``client_id=``), which version 1 never recorded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import RecordError
from ._model import BINDING_HASH_SIZE, Flow, FlowState, TokenSet

__all__ = [
    "SCHEMA_VERSION",
    "dumps_flow",
    "dumps_tokens",
    "flow_from_record",
    "flow_to_record",
    "loads_flow",
    "loads_tokens",
    "tokens_from_record",
    "tokens_to_record",
]

SCHEMA_VERSION = 2

#: Fields of a version 1 flow record that version 2 no longer has.
_V1_FLOW_ONLY = ("code", "code_received_at", "failure")

_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_unstructure_hook(FlowState, lambda state: state.value)
_converter.register_unstructure_hook(bytes, lambda value: value.hex())


# cattrs' default hooks coerce (str(x), float(x), tuple(x)): a number would become a token, a
# string a time, "abc" the scopes ('a', 'b', 'c'), and NaN a deadline that never passes. A
# record holds exactly the JSON types its fields declare, or it is corrupt.
def _structure_str(value: object, _: object) -> str:
    if value.__class__ is not str:
        raise TypeError("not a string")
    return value


def _structure_time(value: object, _: object) -> float:
    # Exact class checks: they are the fast path, and they keep bool (an int) out.
    if value.__class__ is float:
        result: float = value
    elif value.__class__ is int:
        try:
            result = float(value)
        except OverflowError:
            raise ValueError("out of range") from None
    else:
        raise TypeError("not a number")
    if not math.isfinite(result):
        raise ValueError("not finite")
    return result


def _structure_strings(value: object, _: object) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise TypeError("not a list")
    return tuple(_structure_str(item, str) for item in value)


def _structure_state(value: object, _: object) -> FlowState:
    # Registered on its own: FlowState is a str, so the str hook above would claim it.
    return FlowState(_structure_str(value, str))


_HEX = "0123456789abcdef"


def _digest(size: int, *, optional: bool = False) -> Any:
    """A structure hook for a digest of ``size`` bytes, written as lowercase hex."""

    def structure(value: object, _: object) -> bytes | None:
        if value is None and optional:
            return None
        text = _structure_str(value, str)
        # bytes.fromhex skips whitespace, so the text itself must be all hex, of the length.
        if len(text) != 2 * size or text.strip(_HEX):
            raise ValueError(f"not a {size}-byte digest in lowercase hex")
        return bytes.fromhex(text)

    return structure


_converter.register_structure_hook(str, _structure_str)
_converter.register_structure_hook(FlowState, _structure_state)
_converter.register_structure_hook(float, _structure_time)
_converter.register_structure_hook_func(lambda kind: kind == tuple[str, ...], _structure_strings)

# The raw state and binding of a pending flow are never written anywhere.
_converter.register_unstructure_hook(
    Flow,
    make_dict_unstructure_fn(
        Flow, _converter, state_token=override(omit=True), binding=override(omit=True)
    ),
)
_converter.register_structure_hook(
    Flow,
    make_dict_structure_fn(
        Flow,
        _converter,
        _cattrs_forbid_extra_keys=True,
        state_hash=override(struct_hook=_digest(32)),
        binding_hash=override(struct_hook=_digest(BINDING_HASH_SIZE, optional=True)),
        state_token=override(omit=True),
        binding=override(omit=True),
    ),
)

T = TypeVar("T")

#: The fields a version 2 flow record holds (``dumps_flow`` writes every one, None included).
_FLOW_KEYS = frozenset(
    {"v", "state", "state_hash", "binding_hash", "created_at", "deadline", "return_path"}
    | {"requested_team_id", "code_verifier", "team_id"}
)
_STATES = {state.value: state for state in FlowState}


def _fast_time(value: object) -> float | None:
    if value.__class__ is float:
        return value if math.isfinite(value) else None
    return None


def _fast_text(value: object) -> bool:
    return value is None or value.__class__ is str


def _fast_flow(record: Mapping[str, Any]) -> Flow | None:
    """A version 2 flow record exactly as ``dumps_flow`` writes it, read without cattrs' generic
    machinery (every claim reads one); None for anything else, which the converter then reads
    (or refuses, naming the field). It accepts only what the converter accepts and builds the
    same ``Flow``: tests/core/test_serde.py holds the two to each other."""
    version = record["v"] if record.keys() == _FLOW_KEYS else None
    if version.__class__ is not int or version != SCHEMA_VERSION:
        return None
    state = _STATES.get(record["state"]) if record["state"].__class__ is str else None
    state_hash, binding_hash = record["state_hash"], record["binding_hash"]
    created_at, deadline = _fast_time(record["created_at"]), _fast_time(record["deadline"])
    texts = (record["return_path"], record["requested_team_id"], record["code_verifier"])
    if (
        state is None
        or created_at is None
        or deadline is None
        or state_hash.__class__ is not str
        or len(state_hash) != 64
        or state_hash.strip(_HEX)
        or binding_hash.__class__ is not str
        or len(binding_hash) != 2 * BINDING_HASH_SIZE
        or binding_hash.strip(_HEX)
        or not all(_fast_text(text) for text in texts)
        or not _fast_text(record["team_id"])
    ):
        return None
    return Flow(
        state=state,
        state_hash=bytes.fromhex(state_hash),
        binding_hash=bytes.fromhex(binding_hash),
        created_at=created_at,
        deadline=deadline,
        return_path=texts[0],
        requested_team_id=texts[1],
        code_verifier=texts[2],
        team_id=record["team_id"],
    )


def _to_record(value: object) -> dict[str, Any]:
    record: dict[str, Any] = _converter.unstructure(value)
    record["v"] = SCHEMA_VERSION
    return record


def _from_record(
    record: Mapping[str, Any], cls: type[T], *, client_id: str | None = None
) -> T:
    if not isinstance(record, Mapping):
        raise RecordError(f"A {cls.__name__} record must be a JSON object.")
    version = record.get("v")
    if type(version) is not int:
        raise RecordError(f"A {cls.__name__} record has no schema version.")
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"A {cls.__name__} record has schema version {version}; this miroflow reads "
            f"versions up to {SCHEMA_VERSION}. Upgrade miroflow (a newer one wrote it)."
        )
    if version not in (1, SCHEMA_VERSION):
        raise RecordError(f"A {cls.__name__} record has unknown schema version {version}.")
    fields = {key: value for key, value in record.items() if key != "v"}
    if version == 1:
        fields = _upgrade_v1(fields, cls, client_id)
    elif client_id is not None and fields.get("client_id") != client_id:
        raise RecordError(
            f"A {cls.__name__} record read for app {client_id} belongs to another app."
        )
    try:
        return _converter.structure(fields, cls)
    except Exception as exc:  # cattrs raises several types; none may escape with a value
        raise RecordError(f"A {cls.__name__} record is corrupt ({_describe(exc)}).") from None


def _upgrade_v1(fields: dict[str, Any], cls: type[Any], client_id: str | None) -> dict[str, Any]:
    if cls is Flow:
        for name in _V1_FLOW_ONLY:
            fields.pop(name, None)
        binding = fields.get("binding_hash")
        if isinstance(binding, str) and len(binding) == 64:
            # Version 1 kept the whole SHA-256; version 2 keeps its first 128 bits.
            fields["binding_hash"] = binding[: 2 * BINDING_HASH_SIZE]
        return fields
    if client_id is None:
        raise RecordError(
            "A version 1 TokenSet record does not say which app it belongs to: read it with "
            "the app's client_id."
        )
    return {"client_id": client_id, **fields}


def _describe(exc: BaseException) -> str:
    # Each note is "what @ $.field": the shape and the path, never the value (cattrs' own
    # formatter quotes the exception's text, which may hold the value).
    return "; ".join(cattrs.transform_error(exc, format_exception=_shape))


def _shape(exc: BaseException, expected: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unexpected fields ({', '.join(sorted(exc.extra_fields))})"
    if expected is None:
        return "invalid value"
    # A type's name, or a union's text ("str | None"); neither holds a value.
    name = getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
    return f"invalid value, expected {name}"


def flow_to_record(flow: Flow) -> dict[str, Any]:
    # Spelled out (every start saves one): the converter's record, field for field, in order;
    # tests/core/test_serde.py holds the two to each other.
    binding_hash = flow.binding_hash
    return {
        "state": flow.state.value,
        "state_hash": flow.state_hash.hex(),
        "binding_hash": None if binding_hash is None else binding_hash.hex(),
        "created_at": flow.created_at,
        "deadline": flow.deadline,
        "return_path": flow.return_path,
        "requested_team_id": flow.requested_team_id,
        "code_verifier": flow.code_verifier,
        "team_id": flow.team_id,
        "v": SCHEMA_VERSION,
    }


def flow_from_record(record: Mapping[str, Any]) -> Flow:
    if isinstance(record, dict):
        flow = _fast_flow(record)
        if flow is not None:
            return flow
    return _from_record(record, Flow)


def tokens_to_record(tokens: TokenSet) -> dict[str, Any]:
    return _to_record(tokens)


def tokens_from_record(record: Mapping[str, Any], *, client_id: str | None = None) -> TokenSet:
    """A token set from its record; ``client_id`` adopts a version 1 record (which has none)."""
    return _from_record(record, TokenSet, client_id=client_id)


def _loads(data: bytes | str, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, TypeError, RecursionError):  # TypeError: not text at all (None, say)
        raise RecordError(f"A {what} record is not valid JSON.") from None


#: Built once: json.dumps with any option builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def dumps_flow(flow: Flow) -> bytes:
    return _ENCODER.encode(flow_to_record(flow)).encode()


def loads_flow(data: bytes | str) -> Flow:
    return flow_from_record(_loads(data, "Flow"))


def dumps_tokens(tokens: TokenSet) -> bytes:
    return _ENCODER.encode(tokens_to_record(tokens)).encode()


def loads_tokens(data: bytes | str, *, client_id: str | None = None) -> TokenSet:
    """A token set from its JSON; ``client_id`` adopts a version 1 record (which has none)."""
    return tokens_from_record(_loads(data, "TokenSet"), client_id=client_id)
