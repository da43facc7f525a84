"""BatchingOptions: TF Serving's BatchingParameters, with its defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchingOptions:
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int = 0  # 0: max_batch_size

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be positive")
        if self.num_batch_threads < 1:
            raise ValueError("num_batch_threads must be positive")
        if self.allowed_batch_sizes:
            sizes = list(self.allowed_batch_sizes)
            if sizes != sorted(set(sizes)):
                raise ValueError("allowed_batch_sizes must be increasing")
            if sizes[-1] != self.max_batch_size:
                raise ValueError(
                    "Last entry in allowed_batch_sizes must match max_batch_size; last entry was "
                    f"{sizes[-1]}; expected {self.max_batch_size}"
                )

    @property
    def execution_batch_size(self) -> int:
        if self.enable_large_batch_splitting and self.max_execution_batch_size > 0:
            return min(self.max_execution_batch_size, self.max_batch_size)
        return self.max_batch_size
