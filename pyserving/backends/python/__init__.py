"""Python models (``model_platform: "python"``): a version folder's ``model.py`` is the model.

See :mod:`pyserving.backends.python.model` for the interface a ``model.py`` implements and
``docs/writing-a-backend.md``, which walks through this backend as the worked example.
"""

from __future__ import annotations

import os
from typing import Any

from pyserving.backends.python.loader import MODEL_FILE, PythonModelLoader
from pyserving.backends.python.model import PythonModel, Tensor
from pyserving.core.ids import ServableId


class PythonBackend:
    platform = "python"

    def create_loader(self, servable_id: ServableId, path: str) -> PythonModelLoader:
        return PythonModelLoader(servable_id, path)

    def version_complete(self, path: str) -> bool:
        """A folder is whole once its ``model.py`` compiles (a half-copied file does not)."""
        try:
            with open(os.path.join(path, MODEL_FILE), "rb") as stream:
                compile(stream.read(), MODEL_FILE, "exec")
        except (OSError, SyntaxError, ValueError):
            return False
        return True


def create_backend(settings: Any) -> PythonBackend:  # no flags of its own
    """The registry's factory (``backends/__init__.py``)."""
    return PythonBackend()


__all__ = ["PythonBackend", "PythonModel", "Tensor", "create_backend"]
