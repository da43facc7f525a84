"""Config and keys-file validation (errors name the bad key), the CLI's check/keygen/hash-key,
the token bucket's arithmetic, and that a REST-only gateway never imports TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyserving.gateway.config import ConfigError, load_config, parse_config
from pyserving.gateway.keys import load_keys, verify_key
from pyserving.gateway.ratelimit import RateLimiter, retry_after_header
from tests.gateway.support import make_key, run_cli
from tests.helpers.server import REPO

GOOD = """
auth = "none"

[upstreams.m]
replicas = ["127.0.0.1:8500"]

[[routes]]
path = "/a"
upstream = "m"
model = "lstm"
"""


def _parse(text: str) -> object:
    import tomllib

    return parse_config(tomllib.loads(textwrap.dedent(text)), base_dir=Path("/tmp"))


def test_a_minimal_config_parses_with_defaults() -> None:
    config = _parse(GOOD)
    route = config.routes[0]  # type: ignore[attr-defined]
    assert (route.methods, route.signature, route.transform) == (("POST",), "serving_default", None)
    assert config.upstreams["m"].protocol == "grpc"  # type: ignore[attr-defined]
    assert not config.auth.enabled  # type: ignore[attr-defined]


BAD = [
    # (change to GOOD, expected start of the error)
    (GOOD.replace('model = "lstm"', ""), "routes[0].model: missing"),
    (GOOD.replace('auth = "none"', ""), "auth: missing"),
    (GOOD.replace('auth = "none"', 'auth = "off"'), 'auth: expected "none" or a table'),
    (GOOD.replace('upstream = "m"', 'upstream = "x"'), "routes[0].upstream: no upstream named 'x'"),
    (
        GOOD.replace('replicas = ["127.0.0.1:8500"]', 'replicas = ["127.0.0.1:8500", 7]'),
        "upstreams.m.replicas[1]: expected a non-empty string",
    ),
    (
        GOOD.replace('replicas = ["127.0.0.1:8500"]', 'replicas = ["no-port"]'),
        "upstreams.m.replicas[0]: expected host:port",
    ),
    (GOOD.replace('replicas = ["127.0.0.1:8500"]', "replicas = []"), "upstreams.m.replicas: must not be empty"),
    (GOOD + 'protocol = "soap"\n', "routes[0].protocol: unknown key"),
    (
        GOOD.replace("[upstreams.m]", '[upstreams.m]\nprotocol = "soap"'),
        "upstreams.m.protocol: must be one of grpc, rest",
    ),
    (
        GOOD.replace("[upstreams.m]", '[upstreams.m]\ntimeout_ms = "5s"'),
        "upstreams.m.timeout_ms: expected an integer, got string",
    ),
    (GOOD.replace("[upstreams.m]", "[upstreams.m]\ntimeout_ms = 0"), "upstreams.m.timeout_ms: must be >= 1"),
    (GOOD + 'version = 1\nlabel = "stable"\n', "routes[0].label: cannot be set together with version"),
    (GOOD + 'methods = ["GET"]\n', "routes[0].methods: GET needs a transform"),
    (GOOD + 'methods = ["PUT"]\n', "routes[0].methods[0]: must be GET or POST"),
    (GOOD + 'transform = "not an import string"\n', "routes[0].transform: expected an import string"),
    (GOOD.replace('path = "/a"', 'path = "a"'), "routes[0].path: expected an absolute path"),
    (GOOD.replace('path = "/a"', 'path = "/healthz"'), "routes[0].path: /healthz is reserved"),
    (
        GOOD + '[[routes]]\npath = "/a/"\nupstream = "m"\nmodel = "y"\n',
        "routes[1].path: /a is already used by routes[0]",
    ),
    (GOOD.replace('auth = "none"', 'auth = "none"\n[gateway]\nworkers = 0'), "gateway.workers: must be >= 1"),
    (
        GOOD.replace('auth = "none"', 'auth = "none"\n[gateway]\nporrt = 1'),
        "gateway.porrt: unknown key (did you mean port?)",
    ),
    (GOOD.replace("replicas = [", "replica = ["), "upstreams.m.replica: unknown key (did you mean replicas?)"),
    (GOOD.replace('auth = "none"', "[auth]\ndefault_burst = 3"), "auth.keys_file: missing"),
    (
        GOOD.replace('auth = "none"', '[auth]\nkeys_file = "k.toml"\ndefault_rate_per_s = -1'),
        "auth.default_rate_per_s: must be > 0",
    ),
    ('auth = "none"\n[[routes]]\npath = "/a"\nupstream = "m"\nmodel = "x"\n', "upstreams: missing"),
    (
        GOOD.replace("[upstreams.m]", '[upstreams.m]\nprotocol = "rest"\nhealth_check = "grpc_health"'),
        'upstreams.m.health_check: grpc_health needs protocol = "grpc" or "oip-grpc"',
    ),
    (
        GOOD.replace("[upstreams.m]", '[upstreams.m]\nprotocol = "oip-grpc"\nbinary_tensors = false'),
        'upstreams.m.binary_tensors: only meaningful with protocol = "oip-rest"',
    ),
    (
        GOOD.replace("[upstreams.m]", '[upstreams.m]\nprotocol = "oip-grpc"').replace(
            'model = "lstm"', 'model = "lstm"\nsignature = "other"'
        ),
        "routes[0].signature: an OIP upstream serves one function per model",
    ),
    (
        GOOD.replace("[upstreams.m]", '[upstreams.m]\nprotocol = "oip-rest"').replace(
            '"127.0.0.1:8500"', '"http://h:1/v2"'
        ),
        "upstreams.m.replicas[0]: expected http://host:port",
    ),
]


def test_oip_upstreams_parse_with_their_defaults() -> None:
    config = _parse(
        GOOD.replace("[upstreams.m]", '[upstreams.m]\nprotocol = "oip-rest"\nbinary_tensors = false').replace(
            '"127.0.0.1:8500"', '"127.0.0.1:8000"'
        )
        + '\n[upstreams.g]\nprotocol = "oip-grpc"\nreplicas = ["127.0.0.1:8001"]\nhealth_check = "grpc_health"\n'
    )
    rest, grpc = config.upstreams["m"], config.upstreams["g"]  # type: ignore[attr-defined]
    assert (rest.protocol, rest.replicas, rest.binary_tensors) == ("oip-rest", ("http://127.0.0.1:8000",), False)
    assert (grpc.protocol, grpc.health_check, grpc.binary_tensors) == ("oip-grpc", "grpc_health", True)


@pytest.mark.parametrize(("text", "error"), BAD, ids=[e for _, e in BAD])
def test_config_errors_name_the_bad_key(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(text)
    assert str(info.value).startswith(error), str(info.value)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[upstreams\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml")


def test_the_example_configs_are_valid() -> None:
    config = load_config(REPO / "examples" / "sentiment" / "gateway.toml")
    assert [r.path for r in config.routes] == ["/sentiment", "/models/lstm/predict"]
    assert config.auth.keys_file == REPO / "examples" / "sentiment" / "keys.toml"
    keys = load_keys(REPO / "examples" / "sentiment" / "keys.example.toml", 1, 1)
    assert verify_key("demo.example-key-do-not-deploy", keys["demo"].hash)


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ('id = "a"\nroutes = ["*"]', "keys[0].hash: missing"),
        ('id = "a"\nhash = "md5$abc"\nroutes = ["*"]', "keys[0].hash: expected 'sha256$<64 hex>'"),
        ('id = "a b"\nhash = "sha256$' + "0" * 64 + '"\nroutes = ["*"]', "keys[0].id: expected a name"),
        ('id = "a"\nhash = "sha256$' + "0" * 64 + '"\nroutes = []', "keys[0].routes: expected a non-empty list"),
        ('id = "a"\nhash = "sha256$' + "0" * 64 + '"\nroutes = ["*"]\nrate_per_s = 0', "keys[0].rate_per_s"),
        ('id = "a"\nhash = "sha256$' + "0" * 64 + '"\nroutes = ["*"]\nscope = 1', "keys[0].scope: unknown key"),
    ],
)
def test_keys_file_errors_name_the_bad_key(tmp_path: Path, entry: str, error: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text("[[keys]]\n" + entry + "\n")
    with pytest.raises(ConfigError) as info:
        load_keys(path, 1.0, 1.0)
    assert error in str(info.value)


def test_keys_file_in_json_and_duplicate_ids(tmp_path: Path) -> None:
    key, _ = make_key("svc", ["*"])
    from pyserving.gateway.keys import hash_key

    entry = {"id": "svc", "hash": hash_key(key), "routes": ["/a"], "rate_per_s": 3}
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [entry]}))
    loaded = load_keys(path, 10.0, 20.0)["svc"]
    assert (loaded.rate_per_s, loaded.burst, loaded.allows("/a"), loaded.allows("/b")) == (3.0, 20.0, True, False)
    path.write_text(json.dumps({"keys": [entry, entry]}))
    with pytest.raises(ConfigError, match=r"keys\[1\].id: duplicate id 'svc'"):
        load_keys(path, 10.0, 20.0)


def test_cli_check_reports_the_bad_key_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(GOOD.replace('model = "lstm"', ""))
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 2
    assert "config error: routes[0].model: missing" in result.stderr
    config.write_text(GOOD + 'transform = "no_such_module_here:T"\n')
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 2
    assert "routes[0].transform: cannot import 'no_such_module_here'" in result.stderr
    config.write_text(GOOD)
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_cli_serve_refuses_a_bad_config_before_binding(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(GOOD.replace('auth = "none"', '[auth]\nkeys_file = "absent.toml"'))
    result = run_cli("--config", str(config), "--port", "0")
    assert result.returncode == 2
    assert "auth.keys_file: cannot read" in result.stderr


def test_keygen_prints_the_key_to_stderr_and_only_its_hash_to_stdout(tmp_path: Path) -> None:
    result = run_cli("keygen", "--id", "web", "--routes", "/sentiment,/other", "--rate-per-s", "5", "--burst", "10")
    assert result.returncode == 0, result.stderr
    key = result.stderr.strip().splitlines()[-1]
    assert key.startswith("web.") and key not in result.stdout
    path = tmp_path / "keys.toml"
    path.write_text(result.stdout)
    entry = load_keys(path, 1.0, 1.0)["web"]
    assert verify_key(key, entry.hash)
    assert (entry.routes, entry.rate_per_s, entry.burst) == (frozenset({"/sentiment", "/other"}), 5.0, 10.0)


def test_hash_key_reads_an_existing_key_from_stdin(tmp_path: Path) -> None:
    result = run_cli("hash-key", "--scheme", "scrypt", stdin="legacy.some-key-from-the-old-flask-tier\n")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "keys.toml"
    path.write_text(result.stdout)
    entry = load_keys(path, 1.0, 1.0)["legacy"]
    assert entry.hash.startswith("scrypt$") and entry.slow
    assert verify_key("legacy.some-key-from-the-old-flask-tier", entry.hash)
    assert not verify_key("legacy.wrong", entry.hash)
    assert run_cli("hash-key", stdin="no-id-part\n").returncode == 2


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.check("k", 2.0, 3.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.check("k", 2.0, 3.0)
    assert wait == pytest.approx(0.5) and retry_after_header(wait) == "1"
    now[0] += 0.5
    assert limiter.check("k", 2.0, 3.0) == 0.0
    assert limiter.check("other", 2.0, 3.0) == 0.0  # buckets are per key
    assert all(limiter.check("free", float("inf"), 1.0) == 0.0 for _ in range(100))


def test_rest_only_gateway_never_imports_tensorflow(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        GOOD.replace("[upstreams.m]", '[upstreams.m]\nprotocol = "rest"').replace(
            '"127.0.0.1:8500"', '"http://127.0.0.1:8501"'
        )
    )
    code = textwrap.dedent(f"""
        import asyncio, sys
        from pyserving.gateway.app import create_app
        from pyserving.gateway.config import load_config
        async def main():
            app = create_app(load_config({str(config)!r}))
            await app.start()
            await app.aclose()
        asyncio.run(main())
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_serving"))
        assert not heavy, heavy
        print("no tensorflow")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "no tensorflow" in result.stdout
