"""A pure model of Miro's OAuth 2.0 authorization server, to test against without Miro.

Same style as the client's flow machine: states are str enums, inputs are past-tense facts,
``now`` and randomness come from the caller, and every transition lives in one table
(``TABLE``; specs/simulator.md tells the story, specs/simulator.json holds the table).
``AuthorizationServer`` holds the records and answers token-endpoint requests as
``miroflow.HttpResponse`` values; the ``miroflow-simulator`` distribution serves it over HTTP
and in-process.
"""

from ._events import (
    AuthorizationRequestRejected,
    ClockAdvanced,
    CodeRedeemed,
    CodeReplayed,
    ConsentGranted,
    ContextRequested,
    RefreshPresented,
    Respond,
    RevocationRequested,
    RevokeIssuedFrom,
    SaveCode,
    SavePair,
    ServerEffect,
    ServerInput,
    ServerStep,
)
from ._machine import MIN_SECRET_LENGTH, TABLE, Rule, ServerState, authenticate, step
from ._model import (
    ACCESS_TOKEN_LIFETIME,
    CODE_LIFETIME,
    DEFAULT_SCOPES,
    REFRESH_TOKEN_LIFETIME,
    App,
    AuthorizationCode,
    AuthorizationRequest,
    CodeState,
    Organization,
    PairState,
    Registry,
    Team,
    TokenPair,
    User,
)
from ._server import (
    CONTEXT_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    AuthorizationServer,
    default_registry,
)
from ._wire import append_query, miro_error, request_params

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "CODE_LIFETIME",
    "CONTEXT_PATH",
    "DEFAULT_SCOPES",
    "MIN_SECRET_LENGTH",
    "REFRESH_TOKEN_LIFETIME",
    "REVOKE_PATH",
    "TABLE",
    "TOKEN_PATH",
    "App",
    "AuthorizationCode",
    "AuthorizationRequest",
    "AuthorizationRequestRejected",
    "AuthorizationServer",
    "ClockAdvanced",
    "CodeRedeemed",
    "CodeReplayed",
    "CodeState",
    "ConsentGranted",
    "ContextRequested",
    "Organization",
    "PairState",
    "RefreshPresented",
    "Registry",
    "Respond",
    "RevocationRequested",
    "RevokeIssuedFrom",
    "Rule",
    "SaveCode",
    "SavePair",
    "ServerEffect",
    "ServerInput",
    "ServerState",
    "ServerStep",
    "Team",
    "TokenPair",
    "User",
    "append_query",
    "authenticate",
    "default_registry",
    "miro_error",
    "request_params",
    "step",
]
