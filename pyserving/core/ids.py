"""Names for servables and for requests of them (TF Serving's ServableId / ServableRequest)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ServableId:
    name: str
    version: int

    def __str__(self) -> str:
        return f"{{name: {self.name} version: {self.version}}}"


@dataclass(frozen=True)
class ServableRequest:
    """A model name plus a specific version, or None for the latest available one."""

    name: str
    version: int | None = None

    @classmethod
    def latest(cls, name: str) -> ServableRequest:
        return cls(name, None)

    @classmethod
    def specific(cls, name: str, version: int) -> ServableRequest:
        return cls(name, version)

    def __str__(self) -> str:
        # TF Serving's wording, which clients match on in error messages.
        if self.version is None:
            return f"Latest({self.name})"
        return f"Specific({self.name}, {self.version})"
