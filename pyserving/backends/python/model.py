"""What a ``model.py`` implements: the Python model interface, documented for users.

A version folder ``<base>/<version>/model.py`` defines a class named ``Model`` that subclasses
:class:`PythonModel` and declares its signature::

    import numpy as np
    from pyserving.backends.python import PythonModel, Tensor

    class Model(PythonModel):
        inputs = {"x": Tensor("float32", [-1, 1])}
        outputs = {"y": Tensor("float32", [-1, 1])}
        batching = True  # requests may be stacked along dim 0 (--enable_batching)

        def load(self, version_dir: str) -> None:
            self.a = 0.5

        def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"y": self.a * inputs["x"] + 2}

``load`` runs once on a load thread; ``predict`` runs on inference threads, possibly several
at once, never on the event loop; ``unload`` (optional) runs when the version goes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class Tensor:
    """One input or output: a numpy dtype name (``"float32"``, ``"int64"``, ``"bool"``, ``"string"``)
    and a shape with ``-1`` for any size (``None``: any rank)."""

    dtype: str
    shape: Sequence[int] | None = None


class PythonModel:
    """Base class of a ``model.py``'s ``Model``; see the module docstring."""

    inputs: ClassVar[Mapping[str, Tensor]] = {}
    outputs: ClassVar[Mapping[str, Tensor]] = {}
    #: Whether the server may stack concurrent requests along dim 0 into one ``predict``
    #: (with --enable_batching) and split the outputs along dim 0 again.
    batching: ClassVar[bool] = False

    def load(self, version_dir: str) -> None:
        """Read the version's files (weights, a joblib pickle, ...)."""

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def unload(self) -> None:
        """Release what ``load`` took (files, pools); the object is dropped afterwards."""
