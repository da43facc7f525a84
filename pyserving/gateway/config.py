"""The gateway's TOML config: parsed once into frozen dataclasses, every key checked.

Why strict: a gateway config is security-relevant (which routes exist, who may
call them), so a typo must stop the start, not silently drop a setting. Every
error names the key the way the file spells it (``routes[0].model: missing``,
``upstreams.lstm.replicas[1]: expected a string``). Unknown keys are errors too.

Auth is never implicit: the file must say ``auth = "none"`` or give an
``[auth]`` table with a keys file; a missing ``auth`` is an error.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_MS = 10_000
HEALTH_PATHS = ("/healthz", "/readyz")
PROTOCOLS = ("grpc", "rest", "oip-grpc", "oip-rest")
REST_PROTOCOLS = ("rest", "oip-rest")
GRPC_PROTOCOLS = ("grpc", "oip-grpc")
HEALTH_CHECKS = ("model_status", "grpc_health", "none")
METHODS = ("GET", "POST")
_IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")
_ROUTE_PATH = re.compile(r"^/[A-Za-z0-9._~\-/]*$")


class ConfigError(ValueError):
    """A config (or keys file) problem; the message starts with the offending key."""


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    max_body_bytes: int = 1 << 20
    transform_threads: int = 8
    access_log: bool = True
    log_level: str = "info"
    # Folders (relative to the config file) put on sys.path before transforms import.
    python_path: tuple[Path, ...] = ()


@dataclass(frozen=True)
class UpstreamConfig:
    name: str
    protocol: str  # "grpc" | "rest" (TF Serving's APIs) | "oip-grpc" | "oip-rest" (OIP v2: Triton, KServe)
    replicas: tuple[str, ...]  # "host:port" (gRPC) or "http://host:port" (REST)
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    retries: int | None = None  # extra replicas to try; None = each replica once
    health_check: str = "model_status"
    health_interval_ms: int = 5000
    max_message_bytes: int = 64 << 20
    connections: int = 64  # REST connection pool size per replica
    binary_tensors: bool = True  # oip-rest: Triton's binary tensor extension (False: JSON data)


@dataclass(frozen=True)
class RouteConfig:
    path: str
    upstream: str
    model: str
    methods: tuple[str, ...] = ("POST",)
    version: int | None = None
    label: str | None = None
    signature: str = "serving_default"
    transform: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout_ms: int | None = None

    @property
    def where(self) -> str:
        return f"route {self.path}"


@dataclass(frozen=True)
class AuthConfig:
    """``keys_file`` None means ``auth = "none"`` (said explicitly in the file)."""

    keys_file: Path | None
    default_rate_per_s: float = 10.0
    default_burst: float = 20.0
    reload_interval_s: float = 5.0

    @property
    def enabled(self) -> bool:
        return self.keys_file is not None


@dataclass(frozen=True)
class GatewayConfig:
    server: ServerOptions
    upstreams: Mapping[str, UpstreamConfig]
    routes: tuple[RouteConfig, ...]
    auth: AuthConfig
    source: Path | None = None

    def models_of(self, upstream: str) -> frozenset[str]:
        """Models the routes send to ``upstream`` (what its health check asks about)."""
        return frozenset(r.model for r in self.routes if r.upstream == upstream)


class _Table:
    """One TOML table being read: typed getters that name the key on error; tracks unknown keys."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a table, got {_type(data)}")
        self.data = data
        self.where = where
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ..., what: str = "") -> Any:
        self.seen.add(name)
        if name not in self.data:
            if default is ...:
                # A misspelt key (`replica` for `replicas`) is the likely cause: name it, not the missing one.
                typo = difflib.get_close_matches(name, [k for k in self.data if k not in self.seen], n=1)
                if typo:
                    raise ConfigError(f"{self.key(typo[0])}: unknown key (did you mean {name}?)")
                raise ConfigError(f"{self.key(name)}: missing")
            return default
        value = self.data[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool and bool not in _tuple(kind)):
            raise ConfigError(f"{self.key(name)}: expected {what or _kind_name(kind)}, got {_type(value)}")
        return value

    def string(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, str, default)
        if isinstance(value, str) and not value:
            raise ConfigError(f"{self.key(name)}: must not be empty")
        return value

    def positive_int(self, name: str, default: Any = ..., minimum: int = 1) -> Any:
        value = self.get(name, int, default, "an integer")
        if isinstance(value, int) and value < minimum:
            raise ConfigError(f"{self.key(name)}: must be >= {minimum}, got {value}")
        return value

    def positive_number(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, (int, float), default, "a number")
        if isinstance(value, (int, float)) and (math.isnan(value) or value <= 0):
            raise ConfigError(f"{self.key(name)}: must be > 0, got {value}")
        return float(value) if value is not None else None

    def string_list(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, list, default, "a list of strings")
        if value is default:
            return value
        if not value:
            raise ConfigError(f"{self.key(name)}: must not be empty")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise ConfigError(f"{self.key(name)}[{i}]: expected a non-empty string, got {_type(item)}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: Any = ...) -> Any:
        value = self.string(name, default)
        if value not in choices:
            raise ConfigError(f"{self.key(name)}: must be one of {', '.join(choices)}; got {value!r}")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(self.seen - set(self.data)), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{self.key(unknown[0])}: unknown key{hint}")


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in _tuple(kind))


def _type(value: Any) -> str:
    names = {str: "string", bool: "boolean", int: "integer", float: "float", list: "array", dict: "table"}
    return names.get(type(value), type(value).__name__)


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Reads and validates ``path``; raises :class:`ConfigError` naming the bad key."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {source}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    return parse_config(data, base_dir=source.resolve().parent, source=source)


def parse_config(data: dict[str, Any], base_dir: Path, source: Path | None = None) -> GatewayConfig:
    """Validates an already-parsed TOML document (relative paths resolve against ``base_dir``)."""
    root = _Table(data, "")
    server = _server(root.get("gateway", dict, {}), base_dir)
    upstreams = _upstreams(root.get("upstreams", dict))
    routes = _routes(root.get("routes", list, what="an array of tables ([[routes]])"), upstreams, server)
    auth = _auth(root, base_dir)
    root.done()
    return GatewayConfig(server, upstreams, routes, auth, source)


def _server(data: dict[str, Any], base_dir: Path) -> ServerOptions:
    t = _Table(data, "gateway")
    d = ServerOptions()
    options = ServerOptions(
        host=t.string("host", d.host),
        port=t.positive_int("port", d.port, minimum=0),
        workers=t.positive_int("workers", d.workers),
        max_body_bytes=t.positive_int("max_body_bytes", d.max_body_bytes),
        transform_threads=t.positive_int("transform_threads", d.transform_threads),
        access_log=t.get("access_log", bool, d.access_log),
        log_level=t.choice("log_level", ("critical", "error", "warning", "info", "debug"), d.log_level),
        python_path=tuple((base_dir / p).resolve() for p in t.string_list("python_path", [])),
    )
    t.done()
    return options


def _upstreams(data: dict[str, Any]) -> dict[str, UpstreamConfig]:
    if not data:
        raise ConfigError("upstreams: define at least one upstream ([upstreams.NAME])")
    result = {}
    for name, body in data.items():
        t = _Table(body, f"upstreams.{name}")
        protocol = t.choice("protocol", PROTOCOLS, "grpc")
        replicas = t.string_list("replicas")
        for i, address in enumerate(replicas):
            replicas[i] = _replica(address, protocol, t.key(f"replicas[{i}]"))
        d = UpstreamConfig(name, protocol, ())
        retries = t.get("retries", int, None, "an integer")
        if retries is not None and retries < 0:
            raise ConfigError(f"{t.key('retries')}: must be >= 0, got {retries}")
        health = t.choice("health_check", HEALTH_CHECKS, d.health_check)
        if health == "grpc_health" and protocol not in GRPC_PROTOCOLS:
            raise ConfigError(f'{t.key("health_check")}: grpc_health needs protocol = "grpc" or "oip-grpc"')
        binary = t.get("binary_tensors", bool, d.binary_tensors)
        if "binary_tensors" in t.data and protocol != "oip-rest":
            raise ConfigError(f'{t.key("binary_tensors")}: only meaningful with protocol = "oip-rest"')
        result[name] = UpstreamConfig(
            name=name,
            protocol=protocol,
            replicas=tuple(replicas),
            timeout_ms=t.positive_int("timeout_ms", d.timeout_ms),
            retries=retries,
            health_check=health,
            health_interval_ms=t.positive_int("health_interval_ms", d.health_interval_ms, minimum=10),
            max_message_bytes=t.positive_int("max_message_bytes", d.max_message_bytes),
            connections=t.positive_int("connections", d.connections),
            binary_tensors=binary,
        )
        t.done()
    return result


def _replica(address: str, protocol: str, key: str) -> str:
    if protocol in REST_PROTOCOLS:
        url = address if "://" in address else f"http://{address}"
        if not re.match(r"^https?://[^/\s]+/?$", url):
            raise ConfigError(f"{key}: expected http://host:port, got {address!r}")
        return url.rstrip("/")
    if not re.match(r"^[^\s/:]+:\d+$|^\[[0-9a-fA-F:.]+\]:\d+$|^unix:", address):
        raise ConfigError(f"{key}: expected host:port, got {address!r}")
    return address


def _routes(
    items: list[Any], upstreams: Mapping[str, UpstreamConfig], server: ServerOptions
) -> tuple[RouteConfig, ...]:
    if not items:
        raise ConfigError("routes: define at least one route ([[routes]])")
    routes: list[RouteConfig] = []
    seen: dict[str, int] = {}
    for i, body in enumerate(items):
        t = _Table(body, f"routes[{i}]")
        path = t.string("path")
        if not _ROUTE_PATH.match(path):
            raise ConfigError(f"{t.key('path')}: expected an absolute path like /sentiment, got {path!r}")
        path = path.rstrip("/") or "/"
        if path in HEALTH_PATHS:
            raise ConfigError(f"{t.key('path')}: {path} is reserved for the gateway's health checks")
        if path in seen:
            raise ConfigError(f"{t.key('path')}: {path} is already used by routes[{seen[path]}]")
        seen[path] = i
        upstream = t.string("upstream")
        if upstream not in upstreams:
            raise ConfigError(
                f"{t.key('upstream')}: no upstream named {upstream!r} (defined: {', '.join(sorted(upstreams))})"
            )
        model = t.string("model")
        methods = tuple(m.upper() for m in t.string_list("methods", ["POST"]))
        for j, method in enumerate(methods):
            if method not in METHODS:
                raise ConfigError(f"{t.key(f'methods[{j}]')}: must be GET or POST, got {method!r}")
        version = t.positive_int("version", None)
        label = t.string("label", None)
        if version is not None and label is not None:
            raise ConfigError(f"{t.key('label')}: cannot be set together with version")
        transform = t.string("transform", None)
        if transform is not None and not _IMPORT_STRING.match(transform):
            raise ConfigError(
                f"{t.key('transform')}: expected an import string like 'package.module:Name', got {transform!r}"
            )
        if transform is None and "GET" in methods:
            raise ConfigError(
                f"{t.key('methods')}: GET needs a transform (a pass-through "
                "route forwards a TF Serving JSON body, which only POST carries)"
            )
        signature = t.string("signature", "serving_default")
        if upstreams[upstream].protocol.startswith("oip-") and signature != "serving_default":
            raise ConfigError(
                f"{t.key('signature')}: an OIP upstream serves one function per model (the server picks it); "
                "signature applies to grpc and rest upstreams only"
            )
        options = t.get("options", dict, {})
        if options and transform is None:
            raise ConfigError(f"{t.key('options')}: only meaningful with a transform")
        routes.append(
            RouteConfig(
                path=path,
                upstream=upstream,
                model=model,
                methods=methods,
                version=version,
                label=label,
                signature=signature,
                transform=transform,
                options=options,
                timeout_ms=t.positive_int("timeout_ms", None),
            )
        )
        t.done()
    return tuple(routes)


def _auth(root: _Table, base_dir: Path) -> AuthConfig:
    if "auth" not in root.data:
        raise ConfigError(
            'auth: missing (give an [auth] table with keys_file, or say auth = "none" to run without access control)'
        )
    value = root.get("auth", (str, dict), what='"none" or a table')
    if isinstance(value, str):
        if value != "none":
            raise ConfigError(f'auth: expected "none" or a table, got {value!r}')
        return AuthConfig(keys_file=None)
    t = _Table(value, "auth")
    d = AuthConfig(None)
    auth = AuthConfig(
        keys_file=(base_dir / t.string("keys_file")).resolve(),
        default_rate_per_s=t.positive_number("default_rate_per_s", d.default_rate_per_s),
        default_burst=t.positive_number("default_burst", d.default_burst),
        reload_interval_s=t.positive_number("reload_interval_s", d.reload_interval_s),
    )
    t.done()
    return auth
