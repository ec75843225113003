"""The machine's own vocabulary, for those who drive it themselves.

``step(flow, input, config=..., now=...)`` returns a ``Step``: the next snapshot, the effects
to carry out in order (``SaveFlow``, ``SendTokenRequest``, ``StoreTokens``), and the reply for
the browser. ``TABLE`` holds every transition (``specs/flow.json`` is generated from it);
``claim_outcome`` says what a store's claim means; ``next_deadline`` tells a countdown when to
feed ``ClockAdvanced``. The wire functions build what goes out and parse what comes back.
Apps use ``miroflow.Client`` instead, which runs all of this.
"""

from ._callback import Callback, parse_callback
from ._claim import CLOCK_TOLERANCE, ClaimOutcome, claim_error, claim_outcome, presented_binding
from ._config import (
    MIRO_AUTHORIZE_ENDPOINT,
    MIRO_REVOKE_ENDPOINT,
    MIRO_TOKEN_CONTEXT_ENDPOINT,
    MIRO_TOKEN_ENDPOINT,
)
from ._context import ContextEntity, context_request, parse_token_context, revoke_error
from ._events import (
    CallbackReceived,
    ClockAdvanced,
    Effect,
    FlowStarted,
    Input,
    RevokeTokens,
    SaveFlow,
    SendTokenRequest,
    Step,
    StoreTokens,
    TokenResponseReceived,
    TransportFailed,
    UnsolicitedCallbackReceived,
    UserRedirected,
)
from ._lifecycle import TOKEN_TABLE, TokenRule, login_url, poll_delay, refresh_due, step_tokens
from ._lifecycle_events import (
    DeleteTokens,
    LeaseAnswered,
    PutTokens,
    ReadTokens,
    RefreshAnswered,
    RefreshFailed,
    ReleaseLease,
    SendRefreshRequest,
    StoreFailed,
    TakeLease,
    TokenCall,
    TokenEffect,
    TokenInput,
    TokensLoaded,
    TokensPolled,
    TokensStored,
    TokenState,
    TokenStep,
)
from ._machine import ENTROPY_BYTES, TABLE, Rule, error_answer, next_deadline, overdue, step
from ._model import CODE_LIFETIME, hash_binding, hash_state, is_issued_token
from ._public import publish
from ._spec import table_to_mermaid, table_to_spec
from ._token_response import parse_token_response
from ._wire import (
    authorize_url,
    b64url,
    code_challenge,
    refresh_request,
    revoke_request,
    token_request,
)

__all__ = [
    "CLOCK_TOLERANCE",
    "CODE_LIFETIME",
    "ENTROPY_BYTES",
    "MIRO_AUTHORIZE_ENDPOINT",
    "MIRO_REVOKE_ENDPOINT",
    "MIRO_TOKEN_CONTEXT_ENDPOINT",
    "MIRO_TOKEN_ENDPOINT",
    "TABLE",
    "TOKEN_TABLE",
    "Callback",
    "CallbackReceived",
    "ClaimOutcome",
    "ClockAdvanced",
    "ContextEntity",
    "DeleteTokens",
    "Effect",
    "FlowStarted",
    "Input",
    "LeaseAnswered",
    "PutTokens",
    "ReadTokens",
    "RefreshAnswered",
    "RefreshFailed",
    "ReleaseLease",
    "RevokeTokens",
    "Rule",
    "SaveFlow",
    "SendRefreshRequest",
    "SendTokenRequest",
    "Step",
    "StoreFailed",
    "StoreTokens",
    "TakeLease",
    "TokenCall",
    "TokenEffect",
    "TokenInput",
    "TokenResponseReceived",
    "TokenRule",
    "TokenState",
    "TokenStep",
    "TokensLoaded",
    "TokensPolled",
    "TokensStored",
    "TransportFailed",
    "UnsolicitedCallbackReceived",
    "UserRedirected",
    "authorize_url",
    "b64url",
    "claim_error",
    "claim_outcome",
    "code_challenge",
    "context_request",
    "error_answer",
    "hash_binding",
    "hash_state",
    "is_issued_token",
    "login_url",
    "next_deadline",
    "overdue",
    "parse_callback",
    "parse_token_context",
    "parse_token_response",
    "poll_delay",
    "presented_binding",
    "refresh_due",
    "refresh_request",
    "revoke_error",
    "revoke_request",
    "step",
    "step_tokens",
    "table_to_mermaid",
    "table_to_spec",
    "token_request",
]

publish(__name__, __all__, globals())
