"""Peer (ceiling): a bare grpc.aio PredictionService that decodes the inputs and runs no model.

    python -m bench.peers.bare_grpc --port 5400 [--model tiny:1 --model mlp:10] [--model-dir DIR ...]

``Predict`` decodes every input TensorProto to a numpy array (``tensor_content`` or the
typed ``*_val`` field; a small decoder of its own, not pyserving's) and returns a
constant ``PredictResponse`` with one float output ``y`` of shape [rows, width] (rows
from the first input's leading dimension). What gRPC alone can do in Python here.
``--executor-threads N`` (diagnostic, not used by ``run.py``) decodes in a thread pool instead,
to show what the event loop -> thread -> event loop hop costs.
"""

from __future__ import annotations

import argparse
import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from bench.peers.bare_uvicorn import parse_models

# DataType enum value -> (numpy dtype, TensorProto field holding typed values)
_DTYPES = {
    1: (np.float32, "float_val"),
    2: (np.float64, "double_val"),
    3: (np.int32, "int_val"),
    9: (np.int64, "int64_val"),
    10: (np.bool_, "bool_val"),
}


def decode(proto) -> np.ndarray:
    dtype, field = _DTYPES[proto.dtype]
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype).reshape(shape)
    values = np.asarray(getattr(proto, field), dtype)
    count = int(np.prod(shape)) if shape else 1
    if values.size == count:
        return values.reshape(shape)
    return np.full(shape, values[-1] if values.size else 0, dtype)


def create_server(port: int, host: str, widths: dict[str, int], executor_threads: int = 0):
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    cache: dict[tuple[str, int], object] = {}

    def response(name: str, rows: int):
        key = (name, rows)
        if key not in cache:
            width = widths.get(name, 1)
            reply = predict_pb2.PredictResponse()
            reply.model_spec.name = name
            reply.model_spec.version.value = 1
            reply.model_spec.signature_name = "serving_default"
            out = reply.outputs["y"]
            out.dtype = 1
            out.tensor_shape.dim.add().size = rows
            out.tensor_shape.dim.add().size = width
            out.float_val.extend([0.0] * (rows * width))
            cache[key] = reply
        return cache[key]

    pool = ThreadPoolExecutor(executor_threads) if executor_threads else None

    def rows_of(request) -> int:
        arrays = [decode(t) for t in request.inputs.values()]
        return arrays[0].shape[0] if arrays and arrays[0].ndim else 1

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        async def Predict(self, request, context):
            if pool is None:
                rows = rows_of(request)
            else:  # diagnostic: the thread hop a server running its model off the loop pays
                rows = await asyncio.get_running_loop().run_in_executor(pool, rows_of, request)
            return response(request.model_spec.name, rows)

    server = grpc.aio.server()
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
    server.add_insecure_port(f"{host}:{port}")
    return server


async def serve(args: argparse.Namespace) -> None:
    server = create_server(args.port, args.host, parse_models(args.model, args.model_dir), args.executor_threads)
    await server.start()
    print(f"bare grpc.aio on {args.host}:{args.port}", flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5400)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model", action="append", default=[], metavar="NAME:WIDTH")
    parser.add_argument("--model-dir", action="append", default=[])
    parser.add_argument(
        "--executor-threads",
        type=int,
        default=0,
        help="diagnostic: decode in a thread pool of this size (0: on the event loop)",
    )
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
