"""User transforms: plain Python named by import string, run without blocking the loop.

A transform has up to two methods (or module-level functions):

* ``preprocess(payload) -> inputs``: ``payload`` is the request's JSON body
  (POST) or its query parameters as a dict (GET; a repeated parameter becomes
  a list). Returns model inputs, either ``{alias: nested lists | ndarray |
  str}`` or a TF Serving predict body (``{"instances": ...}`` / ``{"inputs": ...}``).
* ``postprocess(outputs, payload) -> JSON``: ``outputs`` is ``{alias: ndarray}``
  with the model's dtypes (strings as ``bytes``); returns anything orjson can
  write (numpy arrays and scalars included).

Either may be ``def`` (run in the gateway's thread pool: segmenters and
tokenizers are CPU work) or ``async def`` (awaited on the loop: it must not
block). Raise :class:`BadRequest` for input the caller got wrong (400 with
your message); any other exception is a bug in the transform: the caller gets
500 and the request id, the traceback goes to the log.

Import strings: ``package.module:Name`` where ``Name`` is a class
(instantiated once per worker with the route's ``options`` table as keyword
arguments), or an object or module with the methods; plain ``package.module``
uses the module's functions.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any, Protocol, runtime_checkable


class BadRequest(Exception):
    """Raise from a transform when the caller's input is wrong: 400 with this message."""


class TransformLoadError(Exception):
    """A transform import string that cannot be imported or has neither method."""


@runtime_checkable
class Transform(Protocol):
    """What a route's transform provides (each method may be sync or async, and either may be absent)."""

    def preprocess(self, payload: Any) -> Any: ...

    def postprocess(self, outputs: Mapping[str, Any], payload: Any) -> Any: ...


def resolve(spec: str) -> Any:
    """The object an import string names; raises TransformLoadError with the reason."""
    module_name, _, attr = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # report any import-time failure of user code
        raise TransformLoadError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    for part in filter(None, attr.split(".")):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise TransformLoadError(f"{module_name!r} has no attribute {attr!r}") from None
    return target


def load_transform(spec: str, options: Mapping[str, Any]) -> Any:
    """Imports ``spec``; instantiates it with ``options`` if it is a class."""
    target = resolve(spec)
    if inspect.isclass(target):
        try:
            target = target(**options)
        except Exception as exc:
            raise TransformLoadError(f"{spec}({', '.join(options)}) failed: {type(exc).__name__}: {exc}") from exc
    elif options:
        raise TransformLoadError(f"{spec} is not a class, so it cannot take options")
    if not callable(getattr(target, "preprocess", None)) and not callable(getattr(target, "postprocess", None)):
        raise TransformLoadError(f"{spec} has neither a preprocess nor a postprocess callable")
    return target


class TransformRunner:
    """Calls one transform's methods: async ones on the loop, sync ones in ``executor``.

    Safe to share between concurrent requests as far as the user's transform
    is (sync methods may run in several threads at once).
    """

    def __init__(self, transform: Any, executor: Executor) -> None:
        self.transform = transform
        self._executor = executor
        self._pre: Callable[..., Any] | None = getattr(transform, "preprocess", None)
        self._post: Callable[..., Any] | None = getattr(transform, "postprocess", None)

    @property
    def has_preprocess(self) -> bool:
        return self._pre is not None

    @property
    def has_postprocess(self) -> bool:
        return self._post is not None

    async def preprocess(self, payload: Any) -> Any:
        assert self._pre is not None
        return await self._call(self._pre, payload)

    async def postprocess(self, outputs: Mapping[str, Any], payload: Any) -> Any:
        assert self._post is not None
        return await self._call(self._post, outputs, payload)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if inspect.iscoroutinefunction(fn):
            return await fn(*args)
        result = await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        if inspect.isawaitable(result):  # e.g. a partial() around an async function
            result = await result
        return result
