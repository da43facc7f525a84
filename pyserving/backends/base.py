"""The Backend contract: a model platform that turns a version folder into a Loader."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any, Generic, Protocol, TypeVar

from pyserving.core.errors import ServingError, StatusCode
from pyserving.core.ids import ServableId
from pyserving.core.loader import Loader

S = TypeVar("S")


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


class VersionFolderLoader(Generic[S]):
    """What every loader of a version folder shares: its id and path, the loaded servable (or
    FAILED_PRECONDITION before a load), and the folder's size as the resource estimate."""

    def __init__(self, servable_id: ServableId, path: str) -> None:
        self.id = servable_id
        self.path = path
        self._servable: S | None = None

    @property
    def servable(self) -> S:
        if self._servable is None:
            raise ServingError(f"servable {self.id} is not loaded", StatusCode.FAILED_PRECONDITION)
        return self._servable

    def estimate_resources(self) -> int:
        return folder_bytes(self.path)


def release_free_memory() -> None:
    """Hands freed heap pages back to the OS after an unload (glibc keeps them otherwise, and RSS
    grows with every version swap)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


class UnavailableBackend:
    """Stands in for a platform whose framework is not installed (``pyserving`` without an extra).

    Why: one model's missing framework must not stop the server. Its versions are found as usual
    and each load fails with ``message`` (FAILED_PRECONDITION, shown by GetModelStatus and the
    logs), while the other models serve.
    """

    def __init__(self, platform: str, message: str) -> None:
        self.platform = platform
        self.message = message

    def create_loader(self, servable_id: ServableId, path: str) -> Loader:
        return _UnavailableLoader(servable_id, path, self.message)

    def version_complete(self, path: str) -> bool:
        return True


class _UnavailableLoader(VersionFolderLoader[Any]):
    def __init__(self, servable_id: ServableId, path: str, message: str) -> None:
        super().__init__(servable_id, path)
        self.message = message

    def load(self) -> None:
        error = ServingError(self.message, StatusCode.FAILED_PRECONDITION)
        error.retryable = False  # installing the framework needs a restart anyway
        raise error

    def unload(self) -> None:
        pass
