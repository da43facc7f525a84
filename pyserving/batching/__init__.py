"""Server-side batching: requests for one (servable, signature) merged into one run."""

from pyserving.batching.options import BatchingOptions
from pyserving.batching.scheduler import BatchScheduler

__all__ = ["BatchScheduler", "BatchingOptions"]
