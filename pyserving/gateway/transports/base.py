"""The transport seam: what the upstream client needs from one replica, whatever the wire.

A transport talks to exactly one replica address and owns its pooled
connection (a gRPC channel, an httpx client). Retries, balancing and health
state live one level up (``client.Upstream``), so a transport never retries.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pyserving.apis import json_format
from pyserving.core.errors import ServingError
from pyserving.gateway.codec import InputError
from pyserving.tensors.signature import Signature

if TYPE_CHECKING:
    from pyserving.gateway.config import UpstreamConfig

TRANSPORTS: dict[str, str] = {
    "grpc": "pyserving.gateway.transports.grpc:GrpcTransport",
    "rest": "pyserving.gateway.transports.rest:RestTransport",
    "oip-grpc": "pyserving.gateway.transports.oip_grpc:OipGrpcTransport",
    "oip-rest": "pyserving.gateway.transports.oip_rest:OipRestTransport",
}


@dataclass(frozen=True)
class ModelTarget:
    """Which model, version or label, and signature a route calls."""

    model: str
    version: int | None = None
    label: str | None = None
    signature: str = "serving_default"

    def __str__(self) -> str:
        at = f"@{self.version}" if self.version else f"@{self.label}" if self.label else ""
        return f"{self.model}{at}:{self.signature}"


class UpstreamError(Exception):
    """A failed call to a replica, as a canonical gRPC code name plus the server's message.

    ``UNAVAILABLE`` covers every connection failure (refused, reset, DNS), so
    the client knows it may try the next replica.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Transport(Protocol):
    """One replica. Methods are coroutines on the event loop; none retries or blocks it.

    ``timeout_s`` is what is left of the request's deadline; the caller also
    enforces it, the transport passes it on (gRPC deadline, HTTP timeout) so
    the server can give up too. Failures raise :class:`UpstreamError`.
    """

    address: str
    #: Whether :meth:`predict_json` needs the signature (to type the JSON values).
    json_needs_signature: bool

    async def predict(
        self,
        target: ModelTarget,
        inputs: Mapping[str, np.ndarray],
        signature: Signature,
        timeout_s: float,
        request_id: str,
    ) -> dict[str, np.ndarray]:
        """Typed inputs in, ``{alias: ndarray}`` out (strings as bytes)."""

    async def predict_json(
        self, target: ModelTarget, body: dict[str, Any], signature: Signature | None, timeout_s: float, request_id: str
    ) -> bytes:
        """A TF Serving REST predict body in, TF Serving's JSON response bytes out."""

    async def signature(self, target: ModelTarget, timeout_s: float) -> Signature:
        """The target's signature, from the server's model metadata."""

    async def check(self, models: Sequence[str], mode: str, timeout_s: float) -> set[str] | None:
        """Health probe: which of ``models`` the replica serves; None if it cannot be reached."""

    async def aclose(self) -> None: ...


async def predict_json_as_arrays(
    transport: Transport,
    target: ModelTarget,
    body: dict[str, Any],
    signature: Signature | None,
    timeout_s: float,
    request_id: str,
) -> bytes:
    """``predict_json`` of a transport that carries typed arrays (gRPC, OIP): the JSON read
    against the signature, :meth:`Transport.predict`, then TF Serving's JSON answer written."""
    assert signature is not None
    try:
        parsed = json_format.predict_inputs(body, signature)
    except ServingError as exc:
        raise InputError(exc.message) from None
    outputs = await transport.predict(target, parsed.inputs, signature, timeout_s, request_id)
    try:
        return json_format.predict_response(outputs, parsed.row_format)
    except ServingError as exc:
        raise UpstreamError("INTERNAL", exc.message) from None


def create_transport(protocol: str, address: str, config: UpstreamConfig) -> Transport:
    """Imports the protocol's module on first use (gRPC imports TensorFlow's protos)."""
    module_name, _, name = TRANSPORTS[protocol].partition(":")
    cls = getattr(importlib.import_module(module_name), name)
    transport: Transport = cls(address, config)
    return transport
