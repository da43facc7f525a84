"""API keys: generation, hashing, and the keys file (TOML or JSON).

A key looks like ``<id>.<secret>``: the id (not secret) picks the keys-file
entry in O(1), the secret is 32 random bytes (``secrets.token_urlsafe``).
The file stores only a hash of the whole key, never the key:

* ``sha256$<hex>`` (default): right for generated keys. With 256 random bits
  there is nothing to brute-force, so a slow hash buys no security and would
  cost CPU on every request (the reasoning GitHub and Stripe tokens follow).
* ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salted, memory-hard): for keys a
  human chose or that were issued elsewhere. Verifying costs ~50 ms of CPU,
  so the authenticator runs it off the event loop and remembers successes.

Comparison is always ``hmac.compare_digest`` (constant time).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyserving.gateway.config import ConfigError

KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SCHEMES = ("sha256", "scrypt")
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_KEY_FIELDS = {"id", "hash", "routes", "rate_per_s", "burst", "disabled", "note"}


@dataclass(frozen=True)
class KeyEntry:
    """One caller: its hashed key, the routes it subscribes to ("*" = all), its rate limit."""

    id: str
    hash: str
    routes: frozenset[str]
    rate_per_s: float
    burst: float

    @property
    def slow(self) -> bool:
        return not self.hash.startswith("sha256$")

    def allows(self, route_path: str) -> bool:
        return "*" in self.routes or route_path in self.routes


def generate_key(key_id: str) -> str:
    if not KEY_ID.match(key_id):
        raise ValueError(f"key id must match {KEY_ID.pattern}, got {key_id!r}")
    return f"{key_id}.{secrets.token_urlsafe(32)}"


def key_id_of(key: str) -> str | None:
    """The id part of a presented key, or None if it has no valid one."""
    key_id, dot, secret = key.partition(".")
    return key_id if dot and secret and KEY_ID.match(key_id) else None


def hash_key(key: str, scheme: str = "sha256") -> str:
    if scheme == "sha256":
        return "sha256$" + hashlib.sha256(key.encode()).hexdigest()
    if scheme == "scrypt":
        salt = secrets.token_bytes(16)
        digest = hashlib.scrypt(key.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
        return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"
    raise ValueError(f"unknown hash scheme {scheme!r} (expected one of {', '.join(SCHEMES)})")


def verify_key(key: str, stored: str) -> bool:
    """True if ``key`` hashes to ``stored``; blocking (scrypt is slow), constant-time compare."""
    scheme, _, rest = stored.partition("$")
    if scheme == "sha256":
        return hmac.compare_digest(hashlib.sha256(key.encode()).hexdigest(), rest)
    if scheme == "scrypt":
        n, r, p, salt, digest = rest.split("$")
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.scrypt(
            key.encode(),
            salt=base64.urlsafe_b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 << 20,
        )
        return hmac.compare_digest(actual, expected)
    return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _check_hash(stored: str, where: str) -> None:
    scheme, _, rest = stored.partition("$")
    if scheme == "sha256" and re.fullmatch(r"[0-9a-f]{64}", rest):
        return
    if scheme == "scrypt":
        parts = rest.split("$")
        try:
            if len(parts) == 5 and all(int(v) > 0 for v in parts[:3]):
                base64.urlsafe_b64decode(parts[3])
                base64.urlsafe_b64decode(parts[4])
                return
        except ValueError:
            pass
    raise ConfigError(
        f"{where}.hash: expected 'sha256$<64 hex>' or 'scrypt$n$r$p$salt$hash' "
        "(make one with `pyserving gateway keygen`)"
    )


def load_keys(path: Path, default_rate_per_s: float, default_burst: float) -> dict[str, KeyEntry]:
    """Reads a keys file (``.json`` or TOML); errors name the file and the key (``keys[1].hash``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"auth.keys_file: cannot read {path}: {exc.strerror}") from None
    try:
        doc = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"auth.keys_file: {path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
        ) from None
    if not isinstance(doc, dict) or set(doc) - {"keys"}:
        raise ConfigError(f"{path}: expected only a 'keys' array ([[keys]] tables)")
    items = doc.get("keys", [])
    if not isinstance(items, list):
        raise ConfigError(f"{path}: keys: expected an array of tables")
    entries: dict[str, KeyEntry] = {}
    for i, item in enumerate(items):
        entry = _entry(item, f"{path.name}: keys[{i}]", default_rate_per_s, default_burst)
        if entry is None:
            continue
        if entry.id in entries:
            raise ConfigError(f"{path.name}: keys[{i}].id: duplicate id {entry.id!r}")
        entries[entry.id] = entry
    return entries


def _entry(item: Any, where: str, default_rate: float, default_burst: float) -> KeyEntry | None:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = sorted(set(item) - _KEY_FIELDS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key")
    for name in ("id", "hash", "routes"):
        if name not in item:
            raise ConfigError(f"{where}.{name}: missing")
    key_id, stored, routes = item["id"], item["hash"], item["routes"]
    if not isinstance(key_id, str) or not KEY_ID.match(key_id):
        raise ConfigError(f"{where}.id: expected a name matching {KEY_ID.pattern}")
    if not isinstance(stored, str):
        raise ConfigError(f"{where}.hash: expected a string")
    _check_hash(stored, where)
    if not isinstance(routes, list) or not routes or not all(isinstance(r, str) for r in routes):
        raise ConfigError(f'{where}.routes: expected a non-empty list of route paths (or ["*"])')
    rate = _number(item, "rate_per_s", default_rate, where)
    burst = _number(item, "burst", default_burst, where)
    if item.get("disabled", False) is True:
        return None
    return KeyEntry(
        key_id, stored, frozenset(r.rstrip("/") or "/" if r != "*" else r for r in routes), rate, max(burst, 1.0)
    )


def _number(item: dict[str, Any], name: str, default: float, where: str) -> float:
    value = item.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
        raise ConfigError(f"{where}.{name}: expected a number > 0 (inf for no limit)")
    return float(value)


def entry_toml(key_id: str, stored: str, routes: Iterable[str], rate_per_s: float | None, burst: float | None) -> str:
    """A ``[[keys]]`` block ready to paste into a TOML keys file."""
    lines = [
        "[[keys]]",
        f'id = "{key_id}"',
        f'hash = "{stored}"',
        "routes = [" + ", ".join(f'"{r}"' for r in routes) + "]",
    ]
    if rate_per_s is not None:
        lines.append(f"rate_per_s = {_toml_number(rate_per_s)}")
    if burst is not None:
        lines.append(f"burst = {_toml_number(burst)}")
    return "\n".join(lines) + "\n"


def _toml_number(value: float) -> str:
    if math.isinf(value):
        return "inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))
