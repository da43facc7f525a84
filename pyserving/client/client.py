"""``Client`` and ``AsyncClient``: one API over TF Serving's API and the Open Inference
Protocol, each over REST or gRPC.

Why generators underneath: a protocol's call (``tfserving.py``, ``oip.py``) yields the
requests it needs and gets their answers back; the two classes here only send them, with
kept-alive HTTP connections or one gRPC channel, so sync and asyncio share every rule.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import grpc
import numpy as np

from pyserving.client._calls import Plan, Rest, Rpc
from pyserving.client.errors import ServingError, from_rpc_error
from pyserving.client.examples import Examples
from pyserving.client.http import AsyncHTTP, Response, SyncHTTP
from pyserving.client.oip import OipGrpc, OipRest
from pyserving.client.tfserving import TFServingGrpc, TFServingRest
from pyserving.client.types import ModelMetadata, VersionStatus

__all__ = ["Client", "AsyncClient"]

_SCHEMES = {"http": "rest", "https": "rest", "grpc": "grpc", "grpcs": "grpc"}
# grpcio's default receive limit is 4 MiB; tensors are often larger (tritonclient allows 2 GiB).
_MAX_MESSAGE = 2**31 - 1


class _Base:
    def __init__(
        self,
        address: str,
        *,
        protocol: str = "tfserving",
        transport: str | None = None,
        timeout: float | None = None,
        rest_format: str = "columnar",
        binary: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        grpc_options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        parts = urlsplit(address if "://" in address else f"//{address}")
        if parts.scheme and parts.scheme not in _SCHEMES:
            raise ValueError(f"unknown scheme {parts.scheme!r} (http, https, grpc, grpcs)")
        transport = transport or _SCHEMES.get(parts.scheme, "")
        if transport not in ("rest", "grpc"):
            raise ValueError("say transport='rest' or 'grpc', or give an http:// or grpc:// address")
        if protocol not in ("tfserving", "oip"):
            raise ValueError(f"protocol must be 'tfserving' or 'oip', not {protocol!r}")
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"address needs a host and a port: {address!r}")
        self.protocol, self.transport, self.timeout = protocol, transport, timeout
        self.host, self.port = parts.hostname, parts.port
        secure = parts.scheme in ("https", "grpcs")
        self._ssl = ssl_context or (ssl.create_default_context() if secure and transport == "rest" else None)
        self._credentials = credentials or (grpc.ssl_channel_credentials() if secure and transport == "grpc" else None)
        self._grpc_options = [
            ("grpc.max_send_message_length", _MAX_MESSAGE),
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            *grpc_options,
        ]
        if protocol == "tfserving":
            self._api: Any = TFServingRest(rest_format) if transport == "rest" else TFServingGrpc()
        else:
            self._api = OipRest(binary) if transport == "rest" else OipGrpc()
        self._stubs: dict[str, Any] = {}

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def _timeout(self, call: Rest | Rpc) -> float | None:
        return self.timeout if call.timeout is None else call.timeout

    def _stub(self, channel: Any, call: Rpc) -> Any:
        stub = self._stubs.get(call.method)
        if stub is None:
            stub = self._stubs[call.method] = channel.unary_unary(
                call.method,
                request_serializer=type(call.request).SerializeToString,
                response_deserializer=call.response_type.FromString,
            )
        return stub


class Client(_Base):
    """A blocking client. ``Client("http://host:8501")`` (REST) or ``Client("grpc://host:8500")``;
    ``protocol="oip"`` for the Open Inference Protocol. Thread-safe; reuse one per server."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self._http = SyncHTTP(self.host, self.port, self._ssl) if self.transport == "rest" else None
        self._channel: grpc.Channel | None = None
        if self.transport == "grpc":
            if self._credentials is not None:
                self._channel = grpc.secure_channel(self.target, self._credentials, self._grpc_options)
            else:
                self._channel = grpc.insecure_channel(self.target, self._grpc_options)

    def _send(self, call: Rest | Rpc) -> Response | Any:
        if isinstance(call, Rest):
            assert self._http is not None
            return self._http.request(call.method, call.path, call.body, call.headers, self._timeout(call))
        try:
            return self._stub(self._channel, call)(call.request, timeout=self._timeout(call))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    def _run(self, plan: Plan) -> Any:
        try:
            call = next(plan)
            while True:
                try:
                    answer = self._send(call)
                except ServingError as exc:
                    call = plan.throw(exc)
                    continue
                call = plan.send(answer)
        except StopIteration as done:
            return done.value

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        version: int | None = None,
        version_label: str | None = None,
        signature_name: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Runs a predict signature: input name -> array in, output name -> array out."""
        return self._run(
            self._api.predict(
                model,
                inputs,
                version=version,
                version_label=version_label,
                signature_name=signature_name,
                outputs=outputs,
                timeout=timeout,
            )
        )

    def classify(
        self,
        model: str,
        examples: Examples,
        *,
        context: Mapping[str, Any] | None = None,
        version: int | None = None,
        version_label: str | None = None,
        signature_name: str | None = None,
        timeout: float | None = None,
    ) -> list[list[tuple[str, float]]]:
        """TF Serving's Classify: per example, its (label, score) pairs."""
        return self._run(
            self._api.classify(
                model,
                examples,
                context=context,
                version=version,
                version_label=version_label,
                signature_name=signature_name,
                timeout=timeout,
            )
        )

    def regress(
        self,
        model: str,
        examples: Examples,
        *,
        context: Mapping[str, Any] | None = None,
        version: int | None = None,
        version_label: str | None = None,
        signature_name: str | None = None,
        timeout: float | None = None,
    ) -> np.ndarray:
        """TF Serving's Regress: one float per example."""
        return self._run(
            self._api.regress(
                model,
                examples,
                context=context,
                version=version,
                version_label=version_label,
                signature_name=signature_name,
                timeout=timeout,
            )
        )

    def metadata(
        self, model: str, *, version: int | None = None, version_label: str | None = None, timeout: float | None = None
    ) -> ModelMetadata:
        """The model's signatures (inputs and outputs with dtypes and shapes)."""
        return self._run(self._api.metadata(model, version=version, version_label=version_label, timeout=timeout))

    def status(self, model: str, *, version: int | None = None, timeout: float | None = None) -> list[VersionStatus]:
        """The state of each version, newest first."""
        return self._run(self._api.status(model, version=version, timeout=timeout))

    def ready(self, model: str | None = None, *, version: int | None = None, timeout: float | None = None) -> bool:
        """Whether the model (or that version; for OIP without a model: the server) can serve."""
        return self._run(self._api.ready(model, version=version, timeout=timeout))

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._channel is not None:
            self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The asyncio twin of :class:`Client` (same arguments, ``await`` every call).

    Use it from one event loop; the gRPC channel is opened on the first call.
    """

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self._http = AsyncHTTP(self.host, self.port, self._ssl) if self.transport == "rest" else None
        self._channel: grpc.aio.Channel | None = None

    def _aio_channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            if self._credentials is not None:
                self._channel = grpc.aio.secure_channel(self.target, self._credentials, self._grpc_options)
            else:
                self._channel = grpc.aio.insecure_channel(self.target, self._grpc_options)
        return self._channel

    async def _send(self, call: Rest | Rpc) -> Response | Any:
        if isinstance(call, Rest):
            assert self._http is not None
            return await self._http.request(call.method, call.path, call.body, call.headers, self._timeout(call))
        try:
            return await self._stub(self._aio_channel(), call)(call.request, timeout=self._timeout(call))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    async def _run(self, plan: Plan) -> Any:
        try:
            call = next(plan)
            while True:
                try:
                    answer = await self._send(call)
                except ServingError as exc:
                    call = plan.throw(exc)
                    continue
                call = plan.send(answer)
        except StopIteration as done:
            return done.value

    async def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        version: int | None = None,
        version_label: str | None = None,
        signature_name: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        """See :meth:`Client.predict`."""
        return await self._run(
            self._api.predict(
                model,
                inputs,
                version=version,
                version_label=version_label,
                signature_name=signature_name,
                outputs=outputs,
                timeout=timeout,
            )
        )

    async def classify(
        self,
        model: str,
        examples: Examples,
        *,
        context: Mapping[str, Any] | None = None,
        version: int | None = None,
        version_label: str | None = None,
        signature_name: str | None = None,
        timeout: float | None = None,
    ) -> list[list[tuple[str, float]]]:
        """See :meth:`Client.classify`."""
        return await self._run(
            self._api.classify(
                model,
                examples,
                context=context,
                version=version,
                version_label=version_label,
                signature_name=signature_name,
                timeout=timeout,
            )
        )

    async def regress(
        self,
        model: str,
        examples: Examples,
        *,
        context: Mapping[str, Any] | None = None,
        version: int | None = None,
        version_label: str | None = None,
        signature_name: str | None = None,
        timeout: float | None = None,
    ) -> np.ndarray:
        """See :meth:`Client.regress`."""
        return await self._run(
            self._api.regress(
                model,
                examples,
                context=context,
                version=version,
                version_label=version_label,
                signature_name=signature_name,
                timeout=timeout,
            )
        )

    async def metadata(
        self, model: str, *, version: int | None = None, version_label: str | None = None, timeout: float | None = None
    ) -> ModelMetadata:
        """See :meth:`Client.metadata`."""
        return await self._run(self._api.metadata(model, version=version, version_label=version_label, timeout=timeout))

    async def status(
        self, model: str, *, version: int | None = None, timeout: float | None = None
    ) -> list[VersionStatus]:
        """See :meth:`Client.status`."""
        return await self._run(self._api.status(model, version=version, timeout=timeout))

    async def ready(
        self, model: str | None = None, *, version: int | None = None, timeout: float | None = None
    ) -> bool:
        """See :meth:`Client.ready`."""
        return await self._run(self._api.ready(model, version=version, timeout=timeout))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
