"""``--ssl_config_file``: TF Serving's text ``SSLConfig`` proto (PEM strings inline, not paths).

``server_key``/``server_cert`` are the server's key pair, ``custom_ca`` the CA
bundle client certificates are checked against, ``client_verify`` requires
and verifies client certificates (mutual TLS). As in TF Serving it applies to
gRPC (TCP and UNIX socket); REST has its own ``--rest_api_ssl_*`` flags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pyserving.core.errors import InvalidArgumentError


@dataclass(frozen=True)
class SslConfig:
    server_key: str
    server_cert: str
    custom_ca: str = ""
    client_verify: bool = False

    def grpc_credentials(self) -> Any:
        """``grpc.ssl_server_credentials`` for ``add_secure_port``."""
        import grpc

        return grpc.ssl_server_credentials(
            [(self.server_key.encode(), self.server_cert.encode())],
            root_certificates=self.custom_ca.encode() or None,
            require_client_auth=self.client_verify,
        )


def ssl_config_class() -> Any:
    from pyserving.protos.tensorflow_serving.config import ssl_config_pb2

    return ssl_config_pb2.SSLConfig


def parse_ssl_config(text: str, source: str = "<text>") -> SslConfig:
    from pyserving.config._proto import parse_text

    try:
        message = parse_text(ssl_config_class()(), text, source)
    except InvalidArgumentError as exc:
        # protobuf's message quotes the token it could not parse, which may be key material.
        where = re.search(r"from .*?: (\d+:\d+)", exc.message)
        raise InvalidArgumentError(
            f"Error parsing text-format SSLConfig from {source}"
            f"{f' at line:column {where.group(1)}' if where else ''} (details not shown: the file holds "
            "private keys)"
        ) from None
    if not message.server_key or not message.server_cert:
        raise InvalidArgumentError(f"{source}: SSLConfig needs both server_key and server_cert (PEM text)")
    if message.client_verify and not message.custom_ca:
        raise InvalidArgumentError(
            f"{source}: SSLConfig client_verify: true needs custom_ca to verify client certificates"
        )
    return SslConfig(message.server_key, message.server_cert, message.custom_ca, message.client_verify)


def read_ssl_config_file(path: str) -> SslConfig:
    from pyserving.config._proto import read_text

    text = read_text(path, "ssl_config_file")
    return parse_ssl_config(text, path)
