"""miroflow's public test kit (install the ``testing`` extra, ``pip install 'miroflow[testing]'``:
it brings hypothesis, pytest and trustme; without them, the modules that need them raise an
``ImportError`` naming the extra).

* ``miroflow.testing.strategies``: hypothesis strategies for flows, token sets, callbacks,
  token responses and clock moves;
* ``miroflow.testing.model``: the flow machine's reference model (``FlowModel``), to check an
  app or adapter against;
* ``miroflow.testing.stores``: the store conformance suite (``FlowStoreConformance``,
  ``TokenStoreConformance``, their async twins, ``MultiProcessClaimConformance``) and the
  fault-injecting wrappers (``FaultyFlowStore``, ``FaultyTokenStore``);
* ``miroflow.testing.leases``: the refresh-lease conformance suite (``TokenLeaseConformance``,
  ``AsyncTokenLeaseConformance``) and ``run_concurrent_refreshes``, the single-flight check
  across processes;
* ``miroflow.testing.legacy``: records as miroflow 0.1 wrote them, for a store's migration
  tests;
* ``miroflow.testing.transports``: the transport conformance suite
  (``TransportConformance``, ``AsyncTransportConformance``) with its loopback test server.

Each is imported on its own (``from miroflow.testing.stores import FlowStoreConformance``), so
that using one does not load what the others need. Nothing here is imported by ``miroflow``.
"""

from __future__ import annotations

# The top-level modules the ``testing`` extra installs (pytest's own internals included).
_EXTRA_MODULES = frozenset({"hypothesis", "pytest", "_pytest", "trustme"})


def _needs_testing_extra(module: str, missing: ModuleNotFoundError) -> ImportError:
    """What a test-kit ``module`` raises when an import failed with ``missing``: an
    ``ImportError`` naming the ``testing`` extra if what is missing is one of its libraries,
    else ``missing`` itself."""
    name = (missing.name or "").partition(".")[0]
    if name not in _EXTRA_MODULES:
        return missing
    return ImportError(
        f"{module} needs {name}, which is not installed: miroflow's test kit needs the "
        "`testing` extra (hypothesis, pytest and trustme). Install it with "
        "pip install 'miroflow[testing]'.",
        name=missing.name,
    )
