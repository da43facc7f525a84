"""The two contracts a backend implements: Loader (one version's lifecycle) and Servable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Servable(Protocol):
    """A loaded model version that can run its signatures.

    ``run`` is plain blocking code; the serving layer calls it on an inference
    executor, never on the event loop, and may call it from several threads at
    once. Inputs and outputs are arrays keyed by signature alias. Errors are
    raised as ``ServingError`` subclasses.
    """

    @property
    def signatures(self) -> Mapping[str, Any]: ...

    def run(
        self, signature_name: str, inputs: Mapping[str, Any], output_keys: Sequence[str]
    ) -> dict[str, Any]: ...

    def metadata(self) -> Any:
        """Backend-specific metadata (TensorFlow: a SignatureDefMap proto)."""
        ...


class Loader(Protocol):
    """Loads and unloads one servable version.

    The constructor must be cheap (no I/O); ``load`` and ``unload`` block and run
    on the manager's load/unload executors, one call at a time per loader.
    ``load`` raises ``ServingError`` on failure and leaves nothing half-loaded.
    """

    def load(self) -> None: ...

    def unload(self) -> None: ...

    @property
    def servable(self) -> Servable: ...
