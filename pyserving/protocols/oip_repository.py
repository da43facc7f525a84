"""OIP's model repository extension: index, load and unload mapped onto the model config.

Why behind ``--enable_model_repository_api``: load and unload change what is served, for anyone
who reaches the port (docs/oip.md, docs/security.md). Load adds a configured (or earlier
unloaded) model back from its base path, or re-polls a served one; unload removes it from the
served set, so its versions unload.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pyserving.core.errors import FailedPreconditionError, PermissionDeniedError, ServableNotFoundError, ServingError
from pyserving.core.states import ManagerState
from pyserving.protocols.oip_models import REPOSITORY_FLAG, OipOptions
from pyserving.serving.server_core import ServerCore

_INDEX_STATES = {
    ManagerState.START: "LOADING",
    ManagerState.LOADING: "LOADING",
    ManagerState.AVAILABLE: "READY",
    ManagerState.UNLOADING: "UNLOADING",
    ManagerState.END: "UNAVAILABLE",
    ManagerState.UNKNOWN: "UNKNOWN",
}


def _check_repository(options: OipOptions) -> None:
    if not options.repository_api:
        raise PermissionDeniedError(
            f"the model repository extension is turned off on this server; start it with {REPOSITORY_FLAG} "
            "to let clients load and unload models"
        )


def repository_index(core: ServerCore, options: OipOptions, ready_only: bool) -> list[dict[str, Any]]:
    _check_repository(options)
    entries: list[dict[str, Any]] = []
    for name in sorted(set(core.models) | set(options.known_models)):
        states = sorted(core.monitor.versions(name), key=lambda s: s.id.version) if name in core.models else []
        if not states and not ready_only:
            entries.append({"name": name})
        for state in states:
            entry = {"name": name, "version": str(state.id.version), "state": _INDEX_STATES[state.state]}
            if state.state == ManagerState.END:
                entry["reason"] = state.error.message if state.error is not None else "unloaded"
            if not ready_only or entry["state"] == "READY":
                entries.append(entry)
    return entries


def _check_writes(options: OipOptions) -> None:
    _check_repository(options)
    if options.workers > 1:
        raise FailedPreconditionError(
            f"model load/unload reaches one of the {options.workers} worker processes (--num_workers); "
            "change the --model_config_file instead"
        )


async def repository_load(core: ServerCore, options: OipOptions, name: str, timeout: float = 60.0) -> None:
    """Adds a configured model back (or re-polls a served one) and waits for an AVAILABLE version."""
    _check_writes(options)
    model = core.models.get(name) or options.known_models.get(name)
    if model is None:
        raise ServableNotFoundError(f"model '{name}' is not in the model config; load serves configured models only")
    options.known_models.setdefault(name, model)
    current = [m for m in core.models.values() if m.name != name]
    await core.apply_config([*current, replace(model)])
    failures = await core.wait_settled([name], timeout)
    error = failures.get(name)
    if error is not None:
        raise ServingError(f"failed to load '{name}': {error.message}", error.code)


async def repository_unload(core: ServerCore, options: OipOptions, name: str) -> None:
    _check_writes(options)
    if name not in core.models:
        if name in options.known_models:
            return  # already unloaded
        raise ServableNotFoundError(f"Request for unknown model: '{name}' is not found")
    options.known_models.setdefault(name, core.models[name])
    await core.apply_config([m for m in core.models.values() if m.name != name])
