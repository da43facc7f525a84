"""Backends, one per model platform, found by name and imported lazily.

Third-party backends register under the ``pyserving.backends`` entry-point group.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from pyserving.backends.base import Backend

BUILTIN_BACKENDS: dict[str, str] = {
    "tensorflow": "pyserving.backends.tensorflow:TensorFlowBackend",
}


def load_backend(platform: str, options: Any) -> Backend:
    """Creates the backend for ``platform``; raises KeyError for an unknown one."""
    target = BUILTIN_BACKENDS.get(platform)
    if target is None:
        for ep in entry_points(group="pyserving.backends"):
            if ep.name == platform:
                target = ep.value
                break
    if target is None:
        raise KeyError(platform)
    module_name, _, attr = target.partition(":")
    backend_cls = getattr(importlib.import_module(module_name), attr)
    backend: Backend = backend_cls(options)
    return backend


def known_platforms() -> list[str]:
    names = set(BUILTIN_BACKENDS)
    names.update(ep.name for ep in entry_points(group="pyserving.backends"))
    return sorted(names)
