"""Keeps the imported libraries out of the garbage collector's full passes.

Importing TensorFlow leaves ~270,000 long-lived Python objects (a loaded model adds ~1,000),
and every full (generation 2) collection walked all of them: 150-175 ms with the loop
stopped, 16 times in a 10 s load test — the whole p99 (153 ms against a 7.6 ms p50), and
the pause after every unload. Once the libraries are imported, what is alive is moved
to the permanent generation (``gc.freeze``), which collections skip. Models are loaded
after that, so an unloaded version's reference cycles are still collected.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_imports() -> None:
    """Collect once, then freeze everything alive. Only the first call does anything."""
    global _frozen
    with _lock:
        if _frozen:
            return
        gc.collect()
        gc.freeze()
        _frozen = True
