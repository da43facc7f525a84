"""The two contracts a backend implements: Loader (one version's lifecycle) and Servable.

Everything the rest of the server uses of a loaded model is declared here; nothing
outside ``backends/`` reaches a servable through ``getattr``. ``docs/writing-a-backend.md``
walks through an implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

#: ``run``'s signature: (signature name, inputs by alias, output aliases, timeout in ms) -> outputs.
RunFn = Callable[[str, Mapping[str, Any], Sequence[str], int], dict[str, Any]]


class Servable(Protocol):
    """A loaded model version that can run its signatures.

    ``run`` is plain blocking code; the serving layer calls it on an inference
    executor, never on the event loop, and may call it from several threads at
    once. Inputs and outputs are numpy arrays keyed by signature alias; inputs
    have passed ``tensors.limits`` and, for predict, the signature's names and
    dtypes. ``timeout_in_ms`` (0: none) is what is left of the caller's deadline;
    a backend that cannot stop a run early may ignore it (callers enforce their
    own deadlines). Errors are raised as ``ServingError`` subclasses; anything
    else becomes INTERNAL for that request alone.
    """

    @property
    def signatures(self) -> Mapping[str, Any]:
        """``tensors.signature.Signature`` by name (``serving_default`` first among equals)."""
        ...

    @property
    def version_dir(self) -> str:
        """The folder this version was loaded from (per-version batching options live there)."""
        ...

    @property
    def batchable(self) -> bool:
        """Whether concurrent requests may be stacked along dim 0 into one run and split after
        (``--enable_batching``); a model that is not is run request by request."""
        ...

    @property
    def caller_thread_run(self) -> RunFn | None:
        """A ``run`` that may execute on the calling thread, even the event loop, when the
        serving layer has timed it as short (``serving/inline_runs.py``); None when a run's time
        is not bounded by its input sizes (loops, waits, arbitrary Python)."""
        ...

    def run(
        self, signature_name: str, inputs: Mapping[str, Any], output_keys: Sequence[str], timeout_in_ms: int = 0
    ) -> dict[str, Any]: ...

    def metadata(self) -> Mapping[str, Any] | None:
        """The backend's own SignatureDef protos by key (TensorFlow's, exactly as exported), or
        None to have them built from ``signatures``."""
        ...


class Loader(Protocol):
    """Loads and unloads one servable version.

    The constructor must be cheap (no I/O); ``load`` and ``unload`` block and run
    on the manager's load/unload executors, one call at a time per loader.
    ``load`` raises ``ServingError`` on failure and leaves nothing half-loaded.
    """

    def estimate_resources(self) -> int:
        """Bytes the version is expected to take once loaded (its files' size is a fair guess)."""
        ...

    def load(self) -> None: ...

    def unload(self) -> None: ...

    @property
    def servable(self) -> Servable: ...
