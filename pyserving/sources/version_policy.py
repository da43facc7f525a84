"""ServableVersionPolicy: which of the versions on disk a model aspires to."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

logger = logging.getLogger("pyserving.source")


@dataclass(frozen=True)
class VersionPolicy:
    """``latest {num_versions}`` (the default), ``all {}`` or ``specific {versions}``."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, name: str, available: Iterable[int]) -> list[int]:
        on_disk = sorted(set(available), reverse=True)
        if self.kind == "all":
            return on_disk
        if self.kind == "specific":
            missing = set(self.versions) - set(on_disk)
            if missing:
                logger.warning("Version(s) %s of servable %s not found on disk", sorted(missing), name)
            return [v for v in on_disk if v in self.versions]
        return on_disk[: max(1, self.num_versions)]
