"""What ``metadata`` and ``status`` return: the same plain records for every protocol."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TensorSpec", "Signature", "ModelMetadata", "VersionStatus"]


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: ``dtype`` (None when it has no numpy equivalent), ``shape`` with
    -1 for a variable dimension (None: unknown rank), and the protocol's own type name
    (``"DT_FLOAT"`` or ``"FP32"``)."""

    dtype: np.dtype | None
    shape: tuple[int, ...] | None
    datatype: str
    tensor_name: str = ""


@dataclass(frozen=True)
class Signature:
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    method_name: str = ""


@dataclass(frozen=True)
class ModelMetadata:
    """A model's signatures by name. OIP models have one, called ``serving_default``."""

    name: str
    versions: tuple[int, ...]
    signatures: dict[str, Signature]
    platform: str = ""
    raw: object = field(default=None, repr=False, compare=False)  # the server's answer as parsed


@dataclass(frozen=True)
class VersionStatus:
    """One version's state in TF Serving's words: START, LOADING, AVAILABLE, UNLOADING, END."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""
