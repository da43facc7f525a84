"""Backends, one per model platform, found by name and imported lazily.

The registry knows each built-in platform by the module that builds it and the files that
mark its version folders; nothing else in the server names a backend. Third-party backends
register a factory (``settings -> Backend``) under the ``pyserving.backends`` entry-point group.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pyserving.backends.base import Backend, BackendFactory


@dataclass(frozen=True)
class Platform:
    """A built-in platform: where its factory lives and the files that mark its versions."""

    factory: str  # "module:callable", called with the server's settings
    marker_files: tuple[str, ...]


BUILTIN_PLATFORMS: dict[str, Platform] = {
    "tensorflow": Platform(
        "pyserving.backends.tensorflow:create_backend", ("saved_model.pb", "saved_model.pbtxt", "model.tflite")
    ),
    "onnx": Platform("pyserving.backends.onnx:create_backend", ("model.onnx",)),
    "python": Platform("pyserving.backends.python:create_backend", ("model.py",)),
}


def load_backend(platform: str, settings: Any) -> Backend:
    """Creates the backend for ``platform`` from the server's settings; KeyError for an unknown one.

    ImportError (the platform's framework is not installed) propagates with its own text.
    """
    builtin = BUILTIN_PLATFORMS.get(platform)
    target = builtin.factory if builtin is not None else None
    if target is None:
        for ep in entry_points(group="pyserving.backends"):
            if ep.name == platform:
                target = ep.value
                break
    if target is None:
        raise KeyError(platform)
    module_name, _, attr = target.partition(":")
    factory: BackendFactory = getattr(importlib.import_module(module_name), attr)
    return factory(settings)


def detect_platform(base_path: str) -> tuple[str, str] | None:
    """(platform, the file that told) from the newest numeric version folder, or None.

    Why: TF Serving refuses a model config entry without ``model_platform``; users trip over
    it, and the version folder says plainly what it holds.
    """
    try:
        children = os.listdir(base_path)
    except OSError:
        return None
    versions = sorted((int(name), name) for name in children if name.isdigit())
    for _, name in reversed(versions):
        folder = os.path.join(base_path, name)
        for platform, spec in BUILTIN_PLATFORMS.items():
            for marker in spec.marker_files:
                if os.path.isfile(os.path.join(folder, marker)):
                    return platform, os.path.join(name, marker)
    return None
