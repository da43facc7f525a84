"""Per-model bound on in-flight inference requests (``--max_concurrent_requests_per_model``).

Shared by REST and gRPC, so the bound holds for both protocols together.
Only predict/classify/regress/multi-inference count; status and metadata
requests are cheap and never refused.
"""

from __future__ import annotations

from pyserving.core.errors import ResourceExhaustedError


class InFlightLimit:
    """Counts in-flight requests per model name; refuses beyond ``max_per_model``. Event-loop only."""

    def __init__(self, max_per_model: int) -> None:
        if max_per_model <= 0:
            raise ValueError("max_per_model must be positive")
        self.max_per_model = max_per_model
        self._in_flight: dict[str, int] = {}

    def acquire(self, model: str) -> None:
        count = self._in_flight.get(model, 0)
        if count >= self.max_per_model:
            raise ResourceExhaustedError(
                f"Too many concurrent requests for model {model}: at most {self.max_per_model} may be "
                "in flight (--max_concurrent_requests_per_model); retry later"
            )
        self._in_flight[model] = count + 1

    def release(self, model: str) -> None:
        count = self._in_flight.get(model, 0) - 1
        if count > 0:
            self._in_flight[model] = count
        else:
            self._in_flight.pop(model, None)
