"""miroflow: Miro's OAuth 2.0 authorization-code flow as a pure, I/O-free state machine.

This namespace is what an app needs: the clients, their configuration and answer, token sets,
the ports with their in-memory stores, and the errors. The machine's own vocabulary (``step``,
``TABLE``, inputs, effects, the wire functions) is in ``miroflow.machine``; what a store
adapter writes to disk is in ``miroflow.records``. See README.md and specs/flow.md.
"""

from ._answer import Answer, Page, SetCookie
from ._client import AsyncClient, Client
from ._config import ClientConfig, Secret, TeamPolicy, UnsolicitedPolicy
from ._context import TokenContext
from ._driver import Observer, Transition
from ._errors import (
    AuthorizationDenied,
    BindingMismatch,
    CallbackError,
    ClientIdMismatch,
    ClockSkew,
    CodeRejected,
    ConfigError,
    FlowExpired,
    InvalidTransition,
    MalformedCallback,
    MalformedLogin,
    MiroflowError,
    MissingBindingCookie,
    RecordError,
    RefreshPending,
    SignInRequired,
    StaleTokenWrite,
    StateAlreadyUsed,
    StoreError,
    StoreUnavailable,
    TeamMismatch,
    TokenEndpointError,
    TokenRequestRejected,
    TokenResponseMalformed,
    TransportError,
    TransportTimeout,
    UnknownState,
    UnsolicitedCallback,
    UsageError,
)
from ._http import HttpRequest, HttpResponse
from ._memory import AsyncMemoryFlowStore, AsyncMemoryTokenStore, MemoryFlowStore, MemoryTokenStore
from ._model import FLOW_RETENTION, Flow, FlowState, StoredTokens, TokenKey, TokenSet
from ._ports import (
    AsyncFlowStore,
    AsyncTokenStore,
    AsyncTransport,
    ClaimResult,
    Clock,
    Entropy,
    FlowStore,
    TokenStore,
    Transport,
)
from ._public import publish
from ._version import __version__

__all__ = [
    "FLOW_RETENTION",
    "Answer",
    "AsyncClient",
    "AsyncFlowStore",
    "AsyncMemoryFlowStore",
    "AsyncMemoryTokenStore",
    "AsyncTokenStore",
    "AsyncTransport",
    "AuthorizationDenied",
    "BindingMismatch",
    "CallbackError",
    "ClaimResult",
    "Client",
    "ClientConfig",
    "ClientIdMismatch",
    "Clock",
    "ClockSkew",
    "CodeRejected",
    "ConfigError",
    "Entropy",
    "Flow",
    "FlowExpired",
    "FlowState",
    "FlowStore",
    "HttpRequest",
    "HttpResponse",
    "InvalidTransition",
    "MalformedCallback",
    "MalformedLogin",
    "MemoryFlowStore",
    "MemoryTokenStore",
    "MiroflowError",
    "MissingBindingCookie",
    "Observer",
    "Page",
    "RecordError",
    "RefreshPending",
    "Secret",
    "SetCookie",
    "SignInRequired",
    "StaleTokenWrite",
    "StateAlreadyUsed",
    "StoreError",
    "StoreUnavailable",
    "StoredTokens",
    "TeamMismatch",
    "TeamPolicy",
    "TokenContext",
    "TokenEndpointError",
    "TokenKey",
    "TokenRequestRejected",
    "TokenResponseMalformed",
    "TokenSet",
    "TokenStore",
    "Transition",
    "Transport",
    "TransportError",
    "TransportTimeout",
    "UnknownState",
    "UnsolicitedCallback",
    "UnsolicitedPolicy",
    "UsageError",
    "__version__",
]

publish(__name__, __all__, globals())
