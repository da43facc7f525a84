"""``pyserving warmup``: write ``assets.extra/tf_serving_warmup_requests`` from example requests.

Requests come in as TF Serving REST JSON bodies (``--request``, ``--request_file``
with one body per line) or as gRPC request text protos (``--grpc_request``);
they go out as TFRecord ``PredictionLog`` records, the format TF Serving and
pyserving replay at load time (``--enable_model_warmup``).

JSON bodies are turned into tensors exactly as the REST API does
(``pyserving.apis.json_format``): the dtypes come from the signature, so the
SavedModel is read. It is found from ``--saved_model_dir`` or, by default, from
the output path ``<version dir>/assets.extra/tf_serving_warmup_requests``.

Examples::

    pyserving warmup --output /models/m/1/assets.extra/tf_serving_warmup_requests \\
        --model m --request '{"instances": [[1.0], [2.0]]}'
    pyserving warmup --output ... --api classify --request '{"examples": [{"x": 1.0}]}'
    pyserving warmup --output ... --grpc_request 'model_spec { signature_name: "incr_counter" }' --repeat 5
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from pyserving.core.errors import ServingError
from pyserving.serving.warmup import ASSETS_EXTRA, MAX_RECORDS, WARMUP_FILE

ASSETS_SUFFIX = os.path.join(ASSETS_EXTRA, WARMUP_FILE)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyserving warmup",
        description="Write a TF Serving warmup file (TFRecord of PredictionLog) from example requests.",
    )
    parser.add_argument(
        "--output", required=True, help="file to write, normally <version dir>/assets.extra/tf_serving_warmup_requests"
    )
    parser.add_argument("--model", default="", help="model name put in each request's model_spec")
    parser.add_argument(
        "--api", choices=("predict", "classify", "regress"), default="predict", help="request kind (default predict)"
    )
    parser.add_argument(
        "--signature_name",
        default=None,
        help="signature to call (default: the body's signature_name, else serving_default)",
    )
    parser.add_argument(
        "--request", action="append", default=[], metavar="JSON", help="a REST JSON request body; repeatable"
    )
    parser.add_argument(
        "--request_file",
        action="append",
        default=[],
        metavar="FILE",
        help="a file of REST JSON bodies, one per line; repeatable",
    )
    parser.add_argument(
        "--grpc_request",
        action="append",
        default=[],
        metavar="TEXT_PROTO",
        help="a text-format PredictRequest / ClassificationRequest / RegressionRequest (per --api); repeatable",
    )
    parser.add_argument(
        "--saved_model_dir",
        default=None,
        help="SavedModel (or model.onnx) version folder (default: derived from --output)",
    )
    parser.add_argument("--tag_set", default="serve", help="MetaGraph tags, comma-separated (default serve)")
    parser.add_argument("--repeat", type=int, default=1, help="write every request this many times")
    return parser


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    try:
        count = write_warmup_file(args)
    except (ServingError, ValueError, OSError) as exc:
        message = exc.message if isinstance(exc, ServingError) else str(exc)
        print(f"pyserving warmup: {message}", file=sys.stderr)
        return 1
    print(f"Wrote {count} warmup records to {args.output}")
    return 0


def write_warmup_file(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise ValueError("--repeat must be at least 1")
    bodies: list[str] = list(args.request)
    for path in args.request_file:
        with open(path, encoding="utf-8") as stream:
            bodies.extend(line for line in stream.read().splitlines() if line.strip())
    if not bodies and not args.grpc_request:
        raise ValueError("give at least one --request, --request_file or --grpc_request")
    logs = [_from_text(args, text) for text in args.grpc_request]
    if bodies:
        signatures = _signatures(_saved_model_dir(args), args.tag_set)
        logs.extend(_from_json(args, body.encode(), signatures) for body in bodies)
    records = [log.SerializeToString() for log in logs for _ in range(args.repeat)]
    if len(records) > MAX_RECORDS:
        raise ValueError(f"{len(records)} records: a warmup file holds at most {MAX_RECORDS}")
    _write_tfrecord(args.output, records)
    return len(records)


def _saved_model_dir(args: argparse.Namespace) -> str:
    if args.saved_model_dir:
        return str(args.saved_model_dir)
    output = os.path.normpath(str(args.output))
    if output.endswith(os.sep + ASSETS_SUFFIX):
        return output[: -len(ASSETS_SUFFIX) - 1]
    raise ValueError(
        "JSON requests need the model's signatures: give --saved_model_dir, or an --output "
        f"ending in {ASSETS_SUFFIX} inside the version folder"
    )


def _signatures(saved_model_dir: str, tag_set: str) -> dict[str, Any]:
    if os.path.isfile(os.path.join(saved_model_dir, "model.onnx")):
        return _onnx_signatures(saved_model_dir)
    from pyserving.backends.tensorflow.servable import signatures_from_meta_graph
    from pyserving.tools.inspect_model import read_saved_model

    tags = {t.strip() for t in tag_set.split(",") if t.strip()}
    saved_model = read_saved_model(saved_model_dir)
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == tags:
            return signatures_from_meta_graph(meta_graph)
    raise ValueError(f"no MetaGraph with tags {sorted(tags)} in {saved_model_dir}")


def _onnx_signatures(version_dir: str) -> dict[str, Any]:
    """The signature the server gives a model.onnx (backends/onnx), read through onnxruntime."""
    from pyserving.backends.onnx.loader import MODEL_FILE, import_onnxruntime
    from pyserving.backends.onnx.servable import signature_of

    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        os.path.join(version_dir, MODEL_FILE), sess_options=options, providers=["CPUExecutionProvider"]
    )
    signature, _ = signature_of(session)
    return {signature.name: signature}


def _log_for(api: str) -> tuple[Any, Any]:
    """A fresh PredictionLog and the request message inside it for ``api``."""
    from pyserving.protos.tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog()
    if api == "predict":
        return log, log.predict_log.request
    if api == "classify":
        return log, log.classify_log.request
    return log, log.regress_log.request


def _from_text(args: argparse.Namespace, text: str) -> Any:
    from google.protobuf import text_format

    log, request = _log_for(args.api)
    try:
        text_format.Parse(text, request)
    except text_format.ParseError as exc:
        raise ValueError(f"bad --grpc_request ({request.DESCRIPTOR.name}): {exc}") from None
    if args.model:
        request.model_spec.name = args.model
    if args.signature_name is not None:
        request.model_spec.signature_name = args.signature_name
    return log


def _from_json(args: argparse.Namespace, body: bytes, signatures: dict[str, Any]) -> Any:
    from pyserving.apis.json_format import parse_object, predict_inputs, signature_name_of
    from pyserving.apis.tensor_proto import array_to_tensor

    doc = parse_object(body)
    name = args.signature_name if args.signature_name is not None else signature_name_of(doc)
    log, request = _log_for(args.api)
    request.model_spec.name = args.model
    if name:
        request.model_spec.signature_name = name
    if args.api == "predict":
        signature = signatures.get(name or "serving_default")
        if signature is None:
            raise ValueError(
                f'signature "{name or "serving_default"}" not found; the model has {", ".join(sorted(signatures))}'
            )
        for alias, array in predict_inputs(doc, signature).inputs.items():
            array_to_tensor(array, out=request.inputs[alias])
        return log
    from pyserving.apis.json_examples import examples_from_body

    examples = request.input.example_list.examples
    for serialized in examples_from_body(doc, args.api):
        examples.add().ParseFromString(serialized)
    return log


def _write_tfrecord(path: str, records: Sequence[bytes]) -> None:
    from pyserving.serving.tfrecord import write_records  # TensorFlow's framing, without TensorFlow

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    write_records(tmp, records)
    os.replace(tmp, path)  # a polling server never sees half a file
