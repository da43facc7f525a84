"""Import TensorFlow without its start-up noise on the console.

Why: on every start TensorFlow's C++ runtime writes lines that look like failures
(the oneDNN and CUDA-stub banners, twice, and ``E0000 ... failed call to cuInit``
on CPU-only machines) straight to file descriptor 2, before ``TF_CPP_MIN_LOG_LEVEL``
applies; its Python side warns that ``loader.load`` is deprecated on every model
load. None of it is actionable for a person serving a model. So the first import
and the device probe (which is what calls ``cuInit``) run with fd 2 pointed at a
temporary file: its lines go to the ``pyserving.tensorflow`` logger at DEBUG, and
are replayed on stderr if the import fails. TensorFlow's Python logger then shows
errors only. ``--log_tensorflow`` turns all of this off.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable

logger = logging.getLogger("pyserving.tensorflow")


def import_tensorflow_quietly(verbose: bool = False) -> None:
    """Imports TensorFlow once and probes its devices; call before any other thread starts."""
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        logger.info("%s", _import_and_probe())
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules:
        found, captured = _with_stderr_captured(_import_and_probe)
        for line in captured.splitlines():
            if line.strip():
                logger.debug("%s", line)
        logger.info("%s", found)
    # Deprecation notices ("load is deprecated") and "Restoring parameters" are TF's INFO/WARNING.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _import_and_probe() -> str:
    """What TensorFlow found: its version and devices (the probe is what calls cuInit)."""
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    return f"TensorFlow {tf.__version__}, {f'{gpus} GPU(s)' if gpus else 'CPU only'}"


def _with_stderr_captured(run: Callable[[], str]) -> tuple[str, str]:
    """``run()``'s result and what was written to fd 2 meanwhile (replayed if it raises)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            result = run()
        except BaseException:
            _restore(saved)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        _restore(saved)
        sink.seek(0)
        return result, sink.read().decode(errors="replace")


def _restore(saved: int) -> None:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
