"""OIP's statistics extension: ``model_stats`` entries from ``ServerCore.stats`` (``serving/model_stats.py``).

Why apart from ``oip_models``: a read-only view with its own shape (§6.3 of
``../shared/docs/oip-v2.md``); both front ends turn the same dicts into JSON or protobuf.
"""

from __future__ import annotations

from typing import Any

from pyserving.core.errors import ServableNotFoundError
from pyserving.protocols.oip_models import servable_request
from pyserving.serving.server_core import ServerCore


def statistics(core: ServerCore, name: str, version: str) -> list[dict[str, Any]]:
    """``model_stats`` entries (§6.3); a name must be known, and so must a version given with it."""
    number: int | None = None
    if name:
        if name not in core.models and not core.stats.of(name):
            raise ServableNotFoundError(f"Request for unknown model: '{name}' is not found")
        if version:
            number = servable_request(core, name, version).version
    found: dict[tuple[str, int], Any] = {
        (sid.name, sid.version): stats for sid, stats in core.stats.of(name or None, number)
    }
    for model in [name] if name else sorted(core.models):
        for v in core.manager.available_versions(model):
            if number is None or v == number:
                found.setdefault((model, v), None)
    entries = [(model, v, stats) for (model, v), stats in found.items()]
    entries.sort(key=lambda e: (e[0], e[1]))
    return [_stats_entry(model, v, stats) for model, v, stats in entries]


def _stats_entry(name: str, version: int, stats: Any) -> dict[str, Any]:
    def duration(d: Any) -> dict[str, int]:
        return {"count": d.count if d else 0, "ns": d.ns if d else 0}

    zero = {"count": 0, "ns": 0}
    return {
        "name": name,
        "version": str(version),
        "last_inference": stats.last_inference_ms if stats else 0,
        "inference_count": stats.inference_count if stats else 0,
        "execution_count": stats.execution_count if stats else 0,
        "inference_stats": {
            "success": duration(stats.success if stats else None),
            "fail": duration(stats.fail if stats else None),
            "queue": duration(stats.queue if stats else None),
            "compute_input": zero,
            "compute_infer": duration(stats.compute_infer if stats else None),
            "compute_output": zero,
            "cache_hit": zero,
            "cache_miss": zero,
        },
        "batch_stats": [],
    }
