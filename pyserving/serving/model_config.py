"""ModelConfig: one model entry of the server config, free of protobuf."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pyserving.sources.version_policy import VersionPolicy


@dataclass(frozen=True)
class ModelConfig:
    name: str
    base_path: str
    model_platform: str = "tensorflow"
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    version_labels: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
