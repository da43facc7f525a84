"""GetModelStatus and GetModelMetadata use-cases, protocol-neutral."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyserving.apis.signature_proto import signature_defs
from pyserving.core.errors import ServableNotFoundError
from pyserving.core.ids import ServableId, ServableRequest
from pyserving.core.states import ServableState
from pyserving.serving.server_core import ServerCore


def model_status(core: ServerCore, name: str, version: int | None = None) -> list[ServableState]:
    """Versions newest first, ended ones included; TF Serving's NOT_FOUND texts."""
    states = core.monitor.versions(name)
    if not states:
        problem = core.source_problem(name)  # TF Serving's text first, then why (a missing base path)
        raise ServableNotFoundError(
            f"Could not find any versions of model {name}" + (f". {problem}" if problem else "")
        )
    if version is None:
        return states
    states = [s for s in states if s.id.version == version]
    if not states:
        raise ServableNotFoundError(f"Could not find version {version} of model {name}")
    return states


def model_metadata(core: ServerCore, request: ServableRequest) -> tuple[ServableId, Mapping[str, Any]]:
    """The version actually resolved and its SignatureDefs (the backend's own, or built from its signatures)."""
    with core.acquire(request) as handle:
        servable = handle.servable
        return handle.id, servable.metadata() or signature_defs(servable.signatures)
