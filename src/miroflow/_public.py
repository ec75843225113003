"""Public classes show the public module they are used from (``miroflow.Flow``, not
``miroflow._model.Flow``) in reprs, tracebacks and pickles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def publish(module: str, names: Iterable[str], namespace: Mapping[str, Any]) -> None:
    """Set ``__module__`` of every class among ``names`` in ``namespace`` to ``module``."""
    for name in names:
        value = namespace[name]
        if isinstance(value, type) and value.__module__.startswith("miroflow._"):
            value.__module__ = module
