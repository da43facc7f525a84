"""Who is calling, and may they call this route: API keys -> KeyEntry, scope check.

The seed tutorial's "subscription-based access": each key lists the routes it
subscribes to. Keys come in ``Authorization: Bearer <key>`` or ``X-API-Key``.
401 for a missing or wrong key, 403 for a key used outside its routes. The
keys file is re-read when it changes, so keys can be added or revoked without
a restart (a file that fails to parse keeps the old keys and logs an error).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from pyserving.gateway.config import AuthConfig, ConfigError
from pyserving.gateway.errors import GatewayError
from pyserving.gateway.keys import KeyEntry, key_id_of, load_keys, verify_key

logger = logging.getLogger("pyserving.gateway.auth")

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pyserving-gateway"'}
_VERIFIED_CACHE_SIZE = 4096


def presented_key(headers: Mapping[bytes, bytes]) -> str | None:
    """The key from ``Authorization: Bearer`` or ``X-API-Key`` (None when absent)."""
    value = headers.get(b"authorization")
    if value is not None:
        scheme, _, token = value.decode("latin-1").strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return ""
    value = headers.get(b"x-api-key")
    if value is not None:
        return value.decode("latin-1").strip()
    return None


class Authenticator:
    """Checks keys against the keys file.

    Event-loop only: the key table and the cache of verified slow (scrypt)
    hashes are plain dicts replaced or mutated on the loop; scrypt itself runs
    in the default executor.
    """

    def __init__(self, config: AuthConfig) -> None:
        if config.keys_file is None:
            raise ValueError("Authenticator needs a keys file")
        self._config = config
        self._path: Path = config.keys_file
        self._keys = load_keys(self._path, config.default_rate_per_s, config.default_burst)
        self._mtime = self._stat()
        # sha256(presented key) -> key id, for keys whose stored hash is slow to verify.
        self._verified: dict[bytes, str] = {}

    @property
    def key_ids(self) -> set[str]:
        return set(self._keys)

    def _stat(self) -> float | None:
        try:
            return os.stat(self._path).st_mtime
        except OSError:
            return None

    def reload_if_changed(self) -> bool:
        """Re-reads the keys file if its mtime changed; keeps the old keys on error."""
        mtime = self._stat()
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            keys = load_keys(self._path, self._config.default_rate_per_s, self._config.default_burst)
        except ConfigError as exc:
            logger.error("Keys file not reloaded, keeping the previous keys: %s", exc)
            return False
        self._keys = keys
        self._verified.clear()
        logger.info("Reloaded keys file %s (%d keys)", self._path, len(keys))
        return True

    async def authenticate(self, headers: Mapping[bytes, bytes]) -> KeyEntry:
        key = presented_key(headers)
        if key is None:
            raise GatewayError(
                401,
                "unauthenticated",
                "missing API key (send 'Authorization: Bearer <key>' or 'X-API-Key')",
                _CHALLENGE,
            )
        key_id = key_id_of(key)
        entry = self._keys.get(key_id) if key_id else None
        if entry is None or not await self._verify(key, entry):
            raise GatewayError(401, "unauthenticated", "invalid API key", _CHALLENGE)
        return entry

    async def _verify(self, key: str, entry: KeyEntry) -> bool:
        if not entry.slow:
            return verify_key(key, entry.hash)
        fingerprint = hashlib.sha256(key.encode()).digest()
        if self._verified.get(fingerprint) == entry.id:
            return True
        ok = await asyncio.get_running_loop().run_in_executor(None, verify_key, key, entry.hash)
        if ok and self._keys.get(entry.id) is entry:
            if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[fingerprint] = entry.id
        return ok

    @staticmethod
    def authorize(entry: KeyEntry, route_path: str) -> None:
        if not entry.allows(route_path):
            raise GatewayError(403, "forbidden", f"API key {entry.id!r} is not subscribed to {route_path}")
