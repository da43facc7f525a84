"""Startup checks of the flags as a whole: the errors TF Serving reports before doing anything, same texts."""

from __future__ import annotations

from pyserving.config.settings import ServerSettings
from pyserving.core.errors import InvalidArgumentError
from pyserving.core.policy import POLICIES
from pyserving.tensors.limits import NUMPY_MAX_RANK


def check_settings(settings: ServerSettings) -> None:
    """Startup errors TF Serving reports before doing anything (same texts)."""
    if not settings.model_base_path and not settings.model_config_file:
        raise InvalidArgumentError(
            "Both server_options.model_base_path and server_options.model_config_file are empty!"
        )
    if settings.batching_parameters_file and not settings.enable_batching:
        raise InvalidArgumentError(
            "server_options.batching_parameters_file is set without setting server_options.enable_batching to true."
        )
    if not 1 <= settings.max_tensor_rank <= NUMPY_MAX_RANK:
        raise InvalidArgumentError(f"--max_tensor_rank must be between 1 and {NUMPY_MAX_RANK}")
    if settings.max_tensor_elements < 1 or settings.max_tensor_bytes < 1:
        raise InvalidArgumentError("--max_tensor_elements and --max_tensor_bytes must be positive")
    if settings.aspired_version_policy not in POLICIES:
        raise InvalidArgumentError(f"--aspired_version_policy must be one of {', '.join(sorted(POLICIES))}")
    if settings.port == 0 and not settings.grpc_socket_path and settings.rest_api_port == 0:
        raise InvalidArgumentError(
            "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set."
        )
    if settings.tensorflow_session_parallelism > 0 and (
        settings.tensorflow_intra_op_parallelism > 0 and settings.tensorflow_inter_op_parallelism > 0
    ):
        raise InvalidArgumentError(
            "Either configure server_options.tensorflow_session_parallelism or "
            "(server_options.tensorflow_intra_op_parallelism, "
            "server_options.tensorflow_inter_op_parallelism) separately. You cannot configure all."
        )
    if settings.use_alts_credentials and settings.ssl_config_file:
        raise InvalidArgumentError("Either use_alts_credentials must be false or ssl_config_file must be empty.")
    if settings.log_format not in ("text", "json"):
        raise InvalidArgumentError(f"--log_format must be text or json, not {settings.log_format!r}")
    for name in (
        "shutdown_grace_period_seconds",
        "shutdown_delay_seconds",
        "rest_api_max_body_bytes",
        "max_concurrent_requests_per_model",
        "rest_api_max_url_bytes",
        "rest_api_max_header_bytes",
        "rest_api_header_timeout_seconds",
        "rest_api_body_timeout_seconds",
        "rest_api_keep_alive_timeout_seconds",
        "rest_api_max_connections",
    ):
        if getattr(settings, name) < 0:
            raise InvalidArgumentError(f"--{name} must not be negative")
    if settings.grpc_max_message_bytes <= 0:
        raise InvalidArgumentError("--grpc_max_message_bytes must be positive")
    if settings.num_workers < 1:
        raise InvalidArgumentError("--num_workers must be positive")
    if (
        settings.rest_api_ssl_keyfile or settings.rest_api_ssl_ca_certs or settings.rest_api_ssl_client_verify
    ) and not settings.rest_api_ssl_certfile:
        raise InvalidArgumentError(
            "--rest_api_ssl_keyfile, --rest_api_ssl_ca_certs and "
            "--rest_api_ssl_client_verify need --rest_api_ssl_certfile"
        )
    if settings.rest_api_ssl_client_verify and not settings.rest_api_ssl_ca_certs:
        raise InvalidArgumentError("--rest_api_ssl_client_verify needs --rest_api_ssl_ca_certs")
