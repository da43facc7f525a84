"""The Backend contract: turns a version directory into a Loader."""

from __future__ import annotations

from typing import Protocol

from pyserving.core.ids import ServableId
from pyserving.core.loader import Loader


class Backend(Protocol):
    """A model platform (``model_platform`` in the model config).

    ``create_loader`` must be cheap and must not touch the model files beyond
    what is needed to reject an obviously unusable directory; the real work
    happens in ``Loader.load`` on a load thread.
    """

    platform: str

    def create_loader(self, servable_id: ServableId, path: str) -> Loader: ...
