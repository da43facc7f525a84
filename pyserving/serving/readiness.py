"""Readiness: whether this server should get traffic now, and if not, why (``/readyz``, gRPC health)."""

from __future__ import annotations

from typing import Any

from pyserving.serving.server_core import ServerCore


class Readiness:
    """Every configured model has an AVAILABLE version and no shutdown has started. Event-loop only."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self.shutting_down = False

    def is_ready(self) -> bool:
        return not self.shutting_down and self.core.is_ready()

    def report(self) -> tuple[bool, dict[str, Any]]:
        """(ready, the ``/readyz`` body): each model without an AVAILABLE version, with its state or error."""
        if self.shutting_down:
            return False, {"status": "shutting down"}
        core = self.core
        waiting: dict[str, Any] = {}
        for name, model in core.models.items():
            if core.manager.available_versions(name):
                continue
            states = core.monitor.versions(name)
            if not states:
                waiting[name] = {
                    "state": "NO_VERSION",
                    "reason": core.source_problem(name) or f"no version found under {model.base_path} yet",
                }
                continue
            latest = states[0]
            entry: dict[str, Any] = {"version": latest.id.version, "state": latest.state.name}
            if latest.error is not None:
                entry["error"] = f"{latest.error.code.name}: {latest.error.message}"
            waiting[name] = entry
        if waiting:
            return False, {"status": "not ready", "models": waiting}
        return True, {"status": "ready"}
