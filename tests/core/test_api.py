"""The two levels of API: what each namespace holds, and that public classes say where they
are used from (reprs, tracebacks, pickles)."""

from __future__ import annotations

import importlib.metadata
import pickle
import traceback

import pytest

import miroflow
from miroflow import machine, records


def test_the_app_level_stays_small_and_the_machine_level_holds_the_rest() -> None:
    # About 40 for the flow, plus the token lifecycle's errors and TokenContext.
    assert len(miroflow.__all__) <= 64
    for name in ("step", "TABLE", "FlowStarted", "SaveFlow", "parse_callback", "token_request"):
        assert not hasattr(miroflow, name), name
        assert name in machine.__all__
    for module in (miroflow, machine, records):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


@pytest.mark.parametrize(
    ("module", "names"), [(miroflow, miroflow.__all__), (machine, machine.__all__)]
)
def test_public_classes_name_their_public_module(module: object, names: list[str]) -> None:
    classes = [getattr(module, name) for name in names if isinstance(getattr(module, name), type)]
    assert classes
    for cls in classes:
        assert cls.__module__ == module.__name__, cls  # type: ignore[attr-defined]


def test_a_traceback_names_the_public_class() -> None:
    try:
        raise miroflow.UnknownState()
    except miroflow.UnknownState:
        text = traceback.format_exc()
    assert "miroflow.UnknownState:" in text and "_errors" not in text


def test_values_and_errors_pickle_through_their_public_names() -> None:
    flow = miroflow.Flow(
        state=miroflow.FlowState.REDIRECTED,
        state_hash=machine.hash_state("1", "s"),
        binding_hash=machine.hash_binding("b"),
        created_at=1.0,
        deadline=2.0,
    )
    for value in (flow, miroflow.FlowExpired(12.0), miroflow.StoreUnavailable("down")):
        copy = pickle.loads(pickle.dumps(value))
        assert type(copy) is type(value) and repr(copy) == repr(value)
    error = pickle.loads(pickle.dumps(miroflow.StoreUnavailable("Redis at 10.0.0.1 is down")))
    assert error.detail == "Redis at 10.0.0.1 is down" and "10.0.0.1" not in error.message


def test_the_version_is_the_distributions() -> None:
    assert miroflow.__version__ == importlib.metadata.version("miroflow")
