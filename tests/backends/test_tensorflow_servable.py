"""SavedModelServable: compiled callables are reused, the caller-thread run gives the same answers."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np

from pyserving.backends.tensorflow import TensorFlowBackend
from pyserving.backends.tensorflow.servable import timeout_bucket
from pyserving.core.ids import ServableId
from tests.ops.models import export_sleep_model


def test_timeout_buckets_round_up_by_at_most_a_quarter() -> None:
    for ms in [1, 5, 8, 9, 100, 999, 1000, 1001, 4999, 30000, 123456]:
        bucket = timeout_bucket(ms)
        assert ms <= bucket <= ms * 1.25
    assert len({timeout_bucket(ms) for ms in range(1000, 5001)}) <= 12


def test_varying_timeouts_reuse_a_few_callables(model_root: Path) -> None:
    # Callers pass what is left of a deadline, a new number every time; each new
    # callable costs ~1 ms, which once made batching slower than no batching.
    loader = TensorFlowBackend().create_loader(ServableId("hp2", 1), str(model_root / "half_plus_two" / "1"))
    loader.load()
    try:
        servable = loader.servable
        x = {"x": np.array([[1.0], [3.0]], np.float32)}
        for timeout_ms in range(4000, 5000, 7):
            outputs = servable.run("serving_default", x, ["y"], timeout_ms)
            np.testing.assert_array_equal(outputs["y"], [[2.5], [3.5]])
        assert len(servable._callables) <= 4
        assert servable.caller_thread_run is not None
        in_caller = servable.caller_thread_run("serving_default", x, ["y"], 0)
        np.testing.assert_array_equal(in_caller["y"], [[2.5], [3.5]])
    finally:
        loader.unload()


def test_a_graph_with_a_loop_never_runs_in_the_caller_thread(tmp_path: Path) -> None:
    # Its run time is its input's value, not its size: it must never run on the event loop.
    loader = TensorFlowBackend().create_loader(ServableId("sleep", 1), str(export_sleep_model(tmp_path / "1")))
    loader.load()
    try:
        assert loader.servable.caller_thread_run is None
        outputs = loader.servable.run("serving_default", {"x": np.array([0.0], np.float32)}, ["y"], 0)
        np.testing.assert_array_equal(outputs["y"], [0.0])
    finally:
        loader.unload()


def test_tensorflow_is_frozen_out_of_collections_and_unloads_free_the_graph(model_root: Path) -> None:
    # Full collections walked TensorFlow's ~270,000 objects: 150 ms pauses, the p99 under load.
    loader = TensorFlowBackend().create_loader(ServableId("hp2", 1), str(model_root / "half_plus_two" / "1"))
    loader.load()
    assert gc.get_freeze_count() > 100_000
    graph = weakref.ref(loader.servable._graph)
    loader.unload()
    assert graph() is None  # loaded after the freeze: its reference cycles are still collected
