"""miroflow's public test kit (install the ``testing`` extra: it brings hypothesis and pytest).

* ``miroflow.testing.strategies``: hypothesis strategies for callbacks, token responses and
  clock moves;
* ``miroflow.testing.model``: the flow machine's reference model, to check an app or adapter
  against;
* ``miroflow.testing.stores`` and ``miroflow.testing.transports``: the conformance suites any
  store or transport adapter runs with a few lines.

Nothing here is imported by ``miroflow`` itself.
"""
