"""ServerSettings: the single definition of every server option.

Field names are TF Serving's flag names, so existing command lines work. Each
field's metadata says what it does and whether pyserving implements it:
``status="ignored"`` flags are accepted for compatibility and logged as ignored
when set to a non-default value; ``status="unsupported"`` flags are refused when
set, because ignoring them would be unsafe (TLS, ALTS).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any


def _opt(default: Any, help: str, status: str = "implemented") -> Any:
    return field(default=default, metadata={"help": help, "status": status})


@dataclass
class ServerSettings:
    # Ports and protocols
    port: int = _opt(8500, "gRPC port; 0 disables gRPC over TCP.")
    grpc_socket_path: str = _opt("", "Also serve gRPC on this UNIX socket.")
    rest_api_port: int = _opt(0, "REST port; 0 disables REST (pyserving serve defaults to 8501).")
    rest_api_num_threads: int = _opt(0, "TF Serving's HTTP thread count; REST runs on the event loop.", "ignored")
    rest_api_timeout_in_ms: int = _opt(30000, "Deadline for REST predict/classify/regress.")
    rest_api_enable_cors_support: bool = _opt(False, "Add CORS headers to REST responses.")
    host: str = _opt("0.0.0.0", "pyserving: address the REST and gRPC ports bind to.")
    # Models
    model_name: str = _opt("default", "Model name in single-model mode.")
    model_base_path: str = _opt("", "Absolute path of the model's version folders (single-model mode).")
    model_config_file: str = _opt("", "Text ModelServerConfig; overrides --model_name/--model_base_path.")
    model_config_file_poll_wait_seconds: int = _opt(0, "Re-read --model_config_file every N seconds (0: once).")
    allow_version_labels_for_unavailable_models: bool = _opt(False, "Allow labels on versions that are not loaded yet.")
    file_system_poll_wait_seconds: int = _opt(1, "Version folder polling period; 0 polls once.")
    file_system_settle_seconds: int = _opt(
        10,
        "pyserving: a version folder that appears while serving is loaded once unchanged across a "
        "poll and complete, or once its newest file is this old (complete folders found by a model's "
        "first poll load at once).",
    )
    open_ports_before_load: bool = _opt(
        False,
        "pyserving: open the REST and gRPC ports at once instead of after the initial models "
        "have loaded (health endpoints and LOADING status during a long load; --num_workers > 1 always waits).",
    )
    aspired_version_policy: str = _opt(
        "availability_preserving",
        "pyserving: availability_preserving (load new, then unload old) or resource_preserving (unload old first).",
    )
    max_num_load_retries: int = _opt(5, "Retries after a failed load.")
    load_retry_interval_micros: int = _opt(60_000_000, "Delay between load retries.")
    num_load_threads: int = _opt(0, "Threads loading models (0: one).")
    num_unload_threads: int = _opt(0, "Threads unloading models (0: one).")
    flush_filesystem_caches: bool = _opt(True, "TF Serving memory tuning.", "ignored")
    saved_model_tags: str = _opt("serve", "Comma-separated MetaGraph tags to load.")
    # TensorFlow session
    tensorflow_session_parallelism: int = _opt(0, "Intra- and inter-op threads (0: auto).")
    tensorflow_session_config_file: str = _opt("", "Text ConfigProto for every session.")
    tensorflow_intra_op_parallelism: int = _opt(0, "Intra-op threads.")
    tensorflow_inter_op_parallelism: int = _opt(0, "Inter-op threads.")
    per_process_gpu_memory_fraction: float = _opt(0.0, "GPU memory fraction.", "ignored")
    platform_config_file: str = _opt("", "Text PlatformConfigMap.", "ignored")
    xla_cpu_compilation_enabled: bool = _opt(False, "XLA JIT on CPU.", "ignored")
    xla_gpu_compilation_enabled: bool = _opt(False, "XLA JIT on GPU.", "ignored")
    mixed_precision: str = _opt("", "Automatic mixed precision.", "ignored")
    thread_pool_factory_config_file: str = _opt("", "Custom TF thread pools.", "ignored")
    remove_unused_fields_from_bundle_metagraph: bool = _opt(True, "Memory tuning.", "ignored")
    enable_signature_method_name_check: bool = _opt(False, "Check SignatureDef method names.", "ignored")
    # Batching
    enable_batching: bool = _opt(False, "Server-side batching.")
    batching_parameters_file: str = _opt("", "Text BatchingParameters.")
    enable_per_model_batching_parameters: bool = _opt(False, "Per-model batching_params.pbtxt.")
    inline_run_max_micros: int = _opt(
        100,
        "pyserving: an unbatched model run whose kind takes under this many microseconds "
        "(timed off the loop first) runs on the event loop, saving the thread hop (0: never).",
    )
    num_workers: int = _opt(
        1,
        "pyserving: serving processes sharing the gRPC and REST ports (SO_REUSEPORT), each with "
        "its own copy of every model; one process serves on one core.",
    )
    # gRPC
    grpc_channel_arguments: str = _opt("", "Comma-separated key=value gRPC server arguments.")
    grpc_max_threads: int = _opt(0, "TF Serving's gRPC thread cap; gRPC runs on the event loop.", "ignored")
    enable_grpc_healthcheck_service: bool = _opt(False, "Serve grpc.health.v1.Health.")
    enable_serialization_as_tensor_content: bool = _opt(False, "Predict outputs as tensor_content.")
    enable_grpc_reflection: bool = _opt(False, "pyserving: serve gRPC server reflection.")
    oip_signature_name: str = _opt(
        "serving_default",
        "pyserving: the signature the Open Inference Protocol v2 (/v2 on the REST port, "
        "inference.GRPCInferenceService on the gRPC port) serves; a request may name another one "
        "with its signature_name parameter (docs/oip.md).",
    )
    enable_model_repository_api: bool = _opt(
        False,
        "pyserving: serve OIP's model repository extension (index, load, unload over REST and gRPC). "
        "Off by default: load and unload change what is served, for anyone who can reach the port "
        "(docs/oip.md).",
    )
    enable_reload_config_rpc: bool = _opt(
        True,
        "pyserving: serve ModelService.HandleReloadConfigRequest, which replaces the served models "
        "(TF Serving always does); false answers PERMISSION_DENIED (docs/security.md).",
    )
    enable_config_endpoint: bool = _opt(
        True,
        "pyserving: serve GET /v1/config on the REST port (the model config in force, base paths "
        "included); false answers it as TF Serving does, 400 Malformed request (docs/security.md).",
    )
    use_alts_credentials: bool = _opt(False, "Google ALTS credentials.", "unsupported")
    ssl_config_file: str = _opt("", "Text SSLConfig (PEM strings inline): TLS, optionally mutual, for gRPC.")
    grpc_max_message_bytes: int = _opt(
        2**31 - 1,
        "pyserving: largest gRPC message received or sent (TF Serving: always INT32_MAX); "
        "larger ones fail with RESOURCE_EXHAUSTED.",
    )
    enable_profiler: bool = _opt(
        True,
        "Serve TensorFlow's profiler (tensorflow.ProfilerService) on the gRPC port: "
        "tf.profiler.experimental.client.trace collects a trace of this process.",
    )
    # Operations
    monitoring_config_file: str = _opt("", "Text MonitoringConfig: Prometheus metrics on the REST port.")
    enable_model_warmup: bool = _opt(True, "Replay assets.extra/tf_serving_warmup_requests at load.")
    num_request_iterations_for_warmup: int = _opt(0, "Warmup iterations per record (0: one).")
    shutdown_grace_period_seconds: float = _opt(
        10.0,
        "pyserving: on SIGTERM/SIGINT, in-flight requests get this long to finish before they "
        "are cancelled and the models unload.",
    )
    shutdown_delay_seconds: float = _opt(
        0.0,
        "pyserving: on SIGTERM/SIGINT, report not ready (/readyz 503, gRPC health NOT_SERVING) "
        "and keep serving this long before closing the ports (lets load balancers drain).",
    )
    rest_api_max_body_bytes: int = _opt(
        64 * 1024 * 1024, "pyserving: largest REST request body; larger ones get HTTP 413."
    )
    rest_api_max_url_bytes: int = _opt(
        16 * 1024, "pyserving: longest REST request URL (path and query); longer ones get HTTP 414."
    )
    rest_api_max_header_bytes: int = _opt(
        64 * 1024, "pyserving: most bytes of REST request header names and values together; more get HTTP 431."
    )
    rest_api_header_timeout_seconds: float = _opt(
        10.0,
        "pyserving: a REST client must send a request's headers within this long of its first "
        "byte (or of connecting); slower ones get HTTP 408 and are disconnected (0: no limit).",
    )
    rest_api_body_timeout_seconds: float = _opt(
        60.0,
        "pyserving: a REST client must send a request's body within this long of its headers; "
        "slower ones get HTTP 408 and are disconnected (0: no limit).",
    )
    rest_api_keep_alive_timeout_seconds: float = _opt(
        5.0, "pyserving: an idle REST keep-alive connection is closed after this long (uvicorn's default)."
    )
    rest_api_max_connections: int = _opt(
        10000,
        "pyserving: most open REST connections; one more gets HTTP 503 and is closed (0: no "
        "limit; each takes a file descriptor).",
    )
    max_tensor_rank: int = _opt(
        64,
        "pyserving: most dimensions an input tensor may have (at most 64, numpy's limit; string "
        "tensors at most 32, TensorFlow's); more get INVALID_ARGUMENT.",
    )
    max_tensor_elements: int = _opt(
        2**29,
        "pyserving: most elements an input tensor may span, its dims multiplied with zeros "
        "counted as 1 (so [2**40, 0] is refused too); more get INVALID_ARGUMENT.",
    )
    max_tensor_bytes: int = _opt(
        2**31,
        "pyserving: most bytes an input tensor may take once decoded (a TensorProto's last "
        "value repeats to fill its shape; strings count 24 bytes each plus their contents).",
    )
    max_concurrent_requests_per_model: int = _opt(
        0,
        "pyserving: in-flight predict/classify/regress requests per model, both protocols "
        "together; more get RESOURCE_EXHAUSTED / HTTP 429 (0: unlimited).",
    )
    rest_api_ssl_certfile: str = _opt("", "pyserving: PEM certificate chain file; serves REST over HTTPS.")
    rest_api_ssl_keyfile: str = _opt("", "pyserving: PEM private key file for --rest_api_ssl_certfile.")
    rest_api_ssl_ca_certs: str = _opt("", "pyserving: PEM CA bundle to verify REST client certificates.")
    rest_api_ssl_client_verify: bool = _opt(
        False, "pyserving: require REST client certificates signed by --rest_api_ssl_ca_certs."
    )
    # TF Lite and TPU
    prefer_tflite_model: bool = _opt(False, "Serve model.tflite when present.")
    num_tflite_pools: int = _opt(0, "TF Lite interpreter pools.", "ignored")
    num_tflite_interpreters_per_pool: int = _opt(1, "TF Lite interpreters per model.")
    skip_initialize_tpu: bool = _opt(False, "TPU only.", "ignored")
    # pyserving
    enable_console: bool = _opt(
        True,
        "pyserving: the status console at / on the REST port (assets and its stats endpoint "
        "under /console/); false: those paths answer 404.",
    )
    log_level: str = _opt("INFO", "pyserving: DEBUG, INFO, WARNING or ERROR.")
    log_format: str = _opt("text", "pyserving: log lines as text or json (one JSON object per line).")
    log_requests: bool = _opt(
        False,
        "pyserving: one log line per model request (API, model, version, status, latency); logger pyserving.access.",
    )
    log_tensorflow: bool = _opt(
        False,
        "pyserving: also print TensorFlow's own log lines (start-up "
        "banners, CUDA probing, deprecation notices); off: its errors only.",
    )
    version: bool = _opt(False, "Print versions and exit.")


def setting_fields() -> dict[str, Any]:
    return {f.name: f for f in fields(ServerSettings)}


def docker_defaults(environ: os._Environ[str] | dict[str, str] | None = None) -> dict[str, Any]:
    """Defaults of TF Serving's Docker image entrypoint: ports 8500/8501, MODEL_NAME, MODEL_BASE_PATH."""
    env = os.environ if environ is None else environ
    name = env.get("MODEL_NAME", "model")
    base = env.get("MODEL_BASE_PATH", "/models")
    return {
        "port": 8500,
        "rest_api_port": 8501,
        "model_name": name,
        "model_base_path": os.path.join(base, name),
    }
