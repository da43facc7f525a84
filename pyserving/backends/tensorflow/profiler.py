"""TensorFlow's in-process profiler, for the ``tensorflow.ProfilerService`` of ``--enable_profiler``.

TF Serving registers TensorFlow's profiler service on its gRPC port; a
``ProfileRequest`` traces the whole process (host threads, TF ops of every
session run) for ``duration_ms`` and answers with the trace as an XSpace.
TensorFlow allows one profiler session per process at a time.
"""

from __future__ import annotations

import threading
from typing import Any

from pyserving.core.errors import ServingError, StatusCode

_ACTIVE = threading.Lock()
# ProfileOptions fields the Python binding's start() takes (tensorflow.ProfileOptions names).
_OPTIONS = ("host_tracer_level", "python_tracer_level", "device_tracer_level")


class ProfilerSession:
    """One trace: ``start`` at creation, ``stop`` returns the serialized XSpace. Any thread."""

    def __init__(self, options: bytes = b"") -> None:
        from pyserving.backends.tensorflow.loader import import_tensorflow

        try:
            import_tensorflow()
        except ImportError:
            raise ServingError(
                "The profiler traces TensorFlow, which is not installed: pip install 'pyserving[tensorflow]'",
                StatusCode.FAILED_PRECONDITION,
            ) from None
        from tensorflow.python.profiler.internal import _pywrap_profiler
        from tensorflow.tsl.profiler.protobuf import profiler_options_pb2

        proto = profiler_options_pb2.ProfileOptions()
        proto.ParseFromString(options)
        # Unset levels keep the profiler's defaults (host 2, device 1), as TF's server does.
        opts = {name: getattr(proto, name) for name in _OPTIONS if getattr(proto, name)}
        if not _ACTIVE.acquire(blocking=False):
            raise ServingError("Another profiling session is active in this process", StatusCode.UNAVAILABLE)
        try:
            self._session: Any = _pywrap_profiler.ProfilerSession()
            self._session.start("", opts)
        except Exception as exc:  # TF raises its own status errors
            _ACTIVE.release()
            raise ServingError(f"Cannot start the profiler: {exc}", StatusCode.INTERNAL) from exc

    def stop(self) -> bytes:
        try:
            return bytes(self._session.stop())
        except Exception as exc:
            raise ServingError(f"Cannot collect the trace: {exc}", StatusCode.INTERNAL) from exc
        finally:
            _ACTIVE.release()
