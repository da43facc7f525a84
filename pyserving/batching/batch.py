"""Concatenate, pad and split dicts of arrays along the batch (0th) dimension."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

Tensors = Mapping[str, np.ndarray]


def batch_rows(inputs: Tensors) -> int | None:
    """The common 0th dimension, or None when the request cannot be batched."""
    rows = None
    for array in inputs.values():
        if array.ndim == 0:
            return None
        if rows is None:
            rows = array.shape[0]
        elif array.shape[0] != rows:
            return None
    return rows


def shape_key(inputs: Tensors) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    """Requests merge only when every input has the same dtype and non-batch dims."""
    return tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))


def padded_shape_key(inputs: Tensors) -> tuple[tuple[str, str, int], ...]:
    """With pad_variable_length_inputs, only dtype and rank must agree."""
    return tuple(sorted((k, v.dtype.str, v.ndim) for k, v in inputs.items()))


def _pad_value(array: np.ndarray) -> object:
    return b"" if array.dtype == object else 0


def concatenate(parts: Sequence[Tensors], pad_to_rows: int, pad_variable_length: bool) -> dict[str, np.ndarray]:
    merged = {}
    for key in parts[0]:
        arrays = [p[key] for p in parts]
        if pad_variable_length:
            target = tuple(max(a.shape[d] for a in arrays) for d in range(1, arrays[0].ndim))
            arrays = [_pad_dims(a, target) for a in arrays]
        total = sum(a.shape[0] for a in arrays)
        if pad_to_rows > total:
            # Padding rows repeat the first row, which is always a valid input.
            arrays.append(np.repeat(arrays[0][:1], pad_to_rows - total, axis=0))
        merged[key] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=0)
    return merged


def _pad_dims(array: np.ndarray, target: tuple[int, ...]) -> np.ndarray:
    if array.shape[1:] == target:
        return array
    widths = [(0, 0)] + [(0, t - s) for s, t in zip(array.shape[1:], target, strict=True)]
    padded: np.ndarray = np.pad(array, widths, constant_values=_pad_value(array))  # type: ignore[call-overload]
    return padded


def split(outputs: Mapping[str, np.ndarray], sizes: Sequence[int]) -> list[dict[str, np.ndarray]]:
    """Per-task slices of the batch outputs (views, no copies)."""
    results: list[dict[str, np.ndarray]] = [{} for _ in sizes]
    for key, array in outputs.items():
        start = 0
        for i, size in enumerate(sizes):
            results[i][key] = array[start : start + size]
            start += size
    return results
