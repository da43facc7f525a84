"""Which unbatched model runs are short enough to do on the event loop itself.

Handing a run to the executor costs the event loop ~60-100 µs (a concurrent future,
the executor queue, a thread wake-up, ``call_soon_threadsafe`` and its wake-up back)
— more than a small model's whole run (6 µs for half_plus_two on the calling thread).
Such runs are done inline, which blocks the loop for less than the hop would have. Every other
run, and every run until enough of its kind have been timed off the loop (on a worker thread,
executed the way an inline run would be), stays on the executor, so a heavy model never blocks
the loop; an inline run that turns out slow sends its kind back to the executor to be timed again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyserving.core.ids import ServableId

logger = logging.getLogger("pyserving.inline_runs")
# A kind of run: the servable and the signature it runs.
RunKind = tuple[ServableId, str]

# Off-loop runs timed before a kind of run may go inline.
WARMUP_RUNS = 16
# Weight of the newest inline duration in the running average: low, so that one run delayed by
# the OS does not send a kind back off the loop.
SMOOTHING = 0.05
# An inline kind whose average grows past this many times the limit goes back off the loop.
SLOWDOWN = 4.0
# One inline duration counts at most this many times the limit in the average.
STALL_CAP = 2 * SLOWDOWN
MAX_KINDS = 4096


@dataclass
class _Timing:
    runs: int = 0  # off-loop runs timed
    # The fastest off-loop run: a worker thread's wall time includes waiting for the GIL
    # behind other threads, so only the minimum says what the run itself costs.
    best: float = math.inf
    inline_average: float = 0.0  # seconds, exponentially smoothed
    inline_runs: int = 0
    max_elements: int = 0  # the largest input (in elements) seen to run under the limit
    max_quick_elements: int = 0  # the largest input seen to run under STALL_CAP times the limit
    announced: bool = False  # the switch to the loop was logged


class InlineRuns:
    """Per (servable, signature) timings; ``inline`` says whether the next run may go on the loop.

    ``max_seconds`` <= 0 disables inline runs. Event-loop only.
    """

    def __init__(self, max_seconds: float) -> None:
        self.max_seconds = max_seconds
        self._timings: dict[RunKind, _Timing] = {}

    def inline(self, key: RunKind, elements: int) -> bool:
        """Whether a run of this kind with an input of ``elements`` numbers may go on the loop."""
        if self.max_seconds <= 0:
            return False
        timing = self._timings.get(key)
        return (
            timing is not None
            and timing.runs >= WARMUP_RUNS
            and timing.best <= self.max_seconds
            and elements <= timing.max_elements
        )

    def timing(self, key: RunKind, elements: int) -> bool:
        """Whether the next off-loop run of this kind should run the way an inline run would.

        That is on the calling thread, not through TF's inter-op pool, where two thread wake-ups
        on a busy machine made half_plus_two's fastest of 16 runs 65-110 µs instead of ~10, and
        it stayed off the loop half the time. Such a run ignores its deadline (TF enforces
        ``timeout_in_ms`` only through the pool), so only kinds already seen to run quickly, with
        inputs no larger than those, are timed that way, and only for their first timed runs.
        """
        if self.max_seconds <= 0:
            return False
        timing = self._timings.get(key)
        return (
            timing is not None
            and timing.runs < WARMUP_RUNS
            and timing.best <= STALL_CAP * self.max_seconds
            and elements <= timing.max_quick_elements
        )

    def record(self, key: RunKind, elements: int, seconds: float, inline: bool) -> None:
        if self.max_seconds <= 0:
            return
        timing = self._timings.get(key)
        if timing is None:
            if len(self._timings) >= MAX_KINDS:
                self._timings.clear()  # bounded: every new model version adds kinds
            timing = self._timings[key] = _Timing()
        if seconds <= self.max_seconds:
            timing.max_elements = max(timing.max_elements, elements)
        if seconds <= STALL_CAP * self.max_seconds:
            timing.max_quick_elements = max(timing.max_quick_elements, elements)
        if not inline:
            timing.runs += 1
            timing.best = min(timing.best, seconds)
            timing.inline_average = timing.best
            if timing.runs >= WARMUP_RUNS and timing.best <= self.max_seconds and not timing.announced:
                timing.announced = True
                logger.info(
                    "Model %s version %d signature %s runs in %.0f µs: running it on the event loop",
                    key[0].name,
                    key[0].version,
                    key[1],
                    timing.best * 1e6,
                )
            return
        timing.inline_runs += 1
        if timing.inline_runs == 1:
            return  # the first one may have built a caller-thread callable (~2 ms): not a run's cost
        # A run the OS stalled (35 ms seen on a busy 2-core machine) counts as merely slow: one
        # stall alone must not move the average past the limit, a run of slow runs does.
        seconds = min(seconds, STALL_CAP * self.max_seconds)
        timing.inline_average = SMOOTHING * seconds + (1 - SMOOTHING) * timing.inline_average
        if timing.inline_average > SLOWDOWN * self.max_seconds:
            logger.info(
                "Model %s version %d signature %s now runs in %.0f µs: back to worker threads",
                key[0].name,
                key[0].version,
                key[1],
                timing.inline_average * 1e6,
            )
            self._timings[key] = _Timing()  # slower than it looked: time it off the loop again


def input_elements(inputs: Mapping[str, Any]) -> int:
    """How many values the inputs hold: what a run's duration is compared by."""
    total = 0
    for value in inputs.values():
        total += value.size if isinstance(value, np.ndarray) else int(np.size(value))
    return total
