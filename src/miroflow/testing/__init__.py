"""miroflow's public test kit (install the ``testing`` extra: it brings hypothesis, pytest and
trustme).

* ``miroflow.testing.strategies``: hypothesis strategies for flows, token sets, callbacks,
  token responses and clock moves;
* ``miroflow.testing.model``: the flow machine's reference model (``FlowModel``), to check an
  app or adapter against;
* ``miroflow.testing.stores``: the store conformance suite (``FlowStoreConformance``,
  ``TokenStoreConformance``, their async twins, ``MultiProcessClaimConformance``) and the
  fault-injecting wrappers (``FaultyFlowStore``, ``FaultyTokenStore``);
* ``miroflow.testing.legacy``: records as miroflow 0.1 wrote them, for a store's migration
  tests;
* ``miroflow.testing.transports``: the transport conformance suite
  (``TransportConformance``, ``AsyncTransportConformance``) with its loopback test server.

Each is imported on its own (``from miroflow.testing.stores import FlowStoreConformance``), so
that using one does not load what the others need. Nothing here is imported by ``miroflow``.
"""
