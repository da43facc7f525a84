"""TensorSpec and Signature: what a servable accepts and returns, backend-neutral."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyserving.tensors.dtypes import short_name


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature.

    ``shape`` is None for unknown rank; ``-1`` marks an unknown dimension.
    ``name`` is the backend's own tensor name (``x:0`` for TensorFlow).
    """

    name: str
    dtype: int
    shape: tuple[int, ...] | None = None

    @property
    def dtype_name(self) -> str:
        return short_name(self.dtype)


@dataclass(frozen=True)
class Signature:
    """A named function of a servable (a SignatureDef)."""

    name: str
    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    # Aliases of inputs that have a default value (TF2 SignatureDef.defaults).
    defaults: frozenset[str] = field(default_factory=frozenset)
