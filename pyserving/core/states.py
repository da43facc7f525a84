"""Lifecycle states of one servable version, as TF Serving reports them.

Legal transitions: START -> LOADING -> AVAILABLE -> UNLOADING -> END, and
LOADING -> END when a load fails (the error is kept with the state).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pyserving.core.errors import ServingError
from pyserving.core.ids import ServableId


class ManagerState(enum.IntEnum):
    """Numbers follow ServableVersionStatus.State in get_model_status.proto."""

    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


@dataclass(frozen=True)
class ServableState:
    """One published state change; ``error`` is set when the version failed."""

    id: ServableId
    state: ManagerState
    error: ServingError | None = None
