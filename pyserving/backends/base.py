"""The Backend contract: a model platform that turns a version folder into a Loader."""

from __future__ import annotations

import os
from typing import Any, Protocol

from pyserving.core.ids import ServableId
from pyserving.core.loader import Loader


class Backend(Protocol):
    """A model platform (``model_platform`` in the model config).

    Built once per platform by the registry (``backends/__init__.py``) from the server's
    settings. ``create_loader`` must be cheap and must not touch the model files beyond
    what is needed to reject an obviously unusable directory; the real work happens in
    ``Loader.load`` on a load thread.
    """

    platform: str

    def create_loader(self, servable_id: ServableId, path: str) -> Loader: ...

    def version_complete(self, path: str) -> bool:
        """Whether a version folder is whole (not still being copied): its model file parses."""
        ...


class BackendFactory(Protocol):
    """What the registry calls: a Backend from the server's settings (``config.settings``)."""

    def __call__(self, settings: Any) -> Backend: ...


def folder_bytes(path: str) -> int:
    """The size of every file below ``path``: a loader's resource estimate."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total
