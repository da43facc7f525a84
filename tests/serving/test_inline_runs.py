"""InlineRuns: which unbatched runs may go on the event loop (the policy alone, no server)."""

from __future__ import annotations

import numpy as np

from pyserving.core.ids import ServableId
from pyserving.serving.inline_runs import WARMUP_RUNS, InlineRuns, input_elements

KIND = (ServableId("m", 1), "serving_default")
LIMIT = 100e-6


def timed(runs: InlineRuns, count: int, seconds: float, elements: int = 1, inline: bool = False) -> None:
    for _ in range(count):
        runs.record(KIND, elements, seconds, inline)


def test_a_kind_goes_inline_only_after_enough_fast_runs_off_the_loop() -> None:
    runs = InlineRuns(LIMIT)
    assert not runs.inline(KIND, 1)
    timed(runs, WARMUP_RUNS - 1, 20e-6)
    assert not runs.inline(KIND, 1)
    timed(runs, 1, 20e-6)
    assert runs.inline(KIND, 1)
    assert not runs.inline((ServableId("m", 2), "serving_default"), 1)  # another version: its own timing


def test_the_fastest_off_loop_run_decides_not_the_contended_average() -> None:
    runs = InlineRuns(LIMIT)
    timed(runs, WARMUP_RUNS - 1, 900e-6)  # waiting for the GIL behind other threads
    timed(runs, 1, 30e-6)
    assert runs.inline(KIND, 1)


def test_slow_kinds_and_larger_inputs_stay_off_the_loop() -> None:
    runs = InlineRuns(LIMIT)
    timed(runs, 100, 2e-3, elements=512)
    assert not runs.inline(KIND, 512)
    runs = InlineRuns(LIMIT)
    timed(runs, WARMUP_RUNS, 20e-6, elements=4)
    assert runs.inline(KIND, 4)
    assert not runs.inline(KIND, 5)  # never seen to run that large under the limit


def test_an_inline_kind_that_slows_down_goes_back_to_be_timed_again() -> None:
    runs = InlineRuns(LIMIT)
    timed(runs, WARMUP_RUNS, 20e-6)
    timed(runs, 3, 40e-6, inline=True)
    assert runs.inline(KIND, 1)
    timed(runs, 30, 2e-3, inline=True)
    assert not runs.inline(KIND, 1)
    timed(runs, WARMUP_RUNS, 20e-6)
    assert runs.inline(KIND, 1)


def test_zero_limit_disables_inline_runs() -> None:
    runs = InlineRuns(0)
    timed(runs, 100, 1e-6)
    assert not runs.inline(KIND, 1)


def test_input_elements_counts_every_value() -> None:
    assert input_elements({"a": np.zeros((3, 4)), "b": np.zeros(()), "c": [1, 2]}) == 15


def test_one_delayed_run_and_the_first_inline_run_do_not_send_a_kind_back() -> None:
    runs = InlineRuns(LIMIT)
    timed(runs, WARMUP_RUNS, 20e-6)
    timed(runs, 1, 2e-3, inline=True)  # the first inline run also builds its callable
    timed(runs, 5, 20e-6, inline=True)
    timed(runs, 1, 3e-3, inline=True)  # preempted once by the OS
    assert runs.inline(KIND, 1)
    timed(runs, 1, 35e-3, inline=True)  # even for 35 ms
    assert runs.inline(KIND, 1)


def test_only_kinds_seen_to_run_quickly_are_timed_on_the_calling_thread() -> None:
    # Such runs ignore their deadline: a first run, a slow kind or a larger input go through the pool.
    runs = InlineRuns(LIMIT)
    assert not runs.timing(KIND, 1)
    timed(runs, 1, 2 * LIMIT, elements=4)
    assert runs.timing(KIND, 4)
    assert not runs.timing(KIND, 5)
    timed(runs, WARMUP_RUNS - 1, 2 * LIMIT, elements=4)
    assert not runs.timing(KIND, 4)  # timed enough
    slow = InlineRuns(LIMIT)
    timed(slow, 1, 5.0)
    assert not slow.timing(KIND, 1)
    assert not InlineRuns(0).timing(KIND, 1)
