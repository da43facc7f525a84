"""REST handlers: parse, call a serving use-case, encode. Nothing else."""

from __future__ import annotations

from typing import Any

import orjson

from pyserving.apis.json_examples import examples_from_body
from pyserving.apis.json_format import PredictBody, parse_object, predict_response, signature_name_of
from pyserving.apis.signature_json import signature_defs_json
from pyserving.core.errors import InvalidArgumentError
from pyserving.protocols.rest.routes import Route
from pyserving.serving import inference
from pyserving.serving.model_status import model_metadata, model_status
from pyserving.serving.server_core import ServerCore


async def predict(core: ServerCore, route: Route, body: bytes, timeout_in_ms: int) -> bytes:
    predict_body = PredictBody(body)
    signature_name = predict_body.signature_name
    request = core.resolve(route.model, route.version, route.label)
    with core.acquire(request) as handle:
        signature = inference.find_signature(handle.servable, signature_name, inference.rest_predict_missing)
        if not signature.inputs:
            raise InvalidArgumentError(f"Failed to get input map for signature: {signature_name or 'DEFAULT'}")
        tensors = predict_body.tensors(signature)
        outputs = await inference.run_signature(
            core, handle, signature, tensors.inputs, sorted(signature.outputs), timeout_in_ms
        )
    return predict_response(outputs, tensors.row_format)


async def classify_or_regress(core: ServerCore, route: Route, body: bytes, timeout_in_ms: int) -> bytes:
    doc = parse_object(body)
    signature_name = signature_name_of(doc)
    examples = examples_from_body(doc, route.action)
    request = core.resolve(route.model, route.version, route.label)
    with core.acquire(request) as handle:
        if route.action == "classify":
            signature = inference.classification_signature(handle.servable, signature_name)
            classes = await inference.classify(core, handle, signature, examples, timeout_in_ms)
            results: Any = [[[_label(c.label), c.score] for c in row] for row in classes]
        else:
            signature = inference.regression_signature(handle.servable, signature_name)
            results = await inference.regress(core, handle, signature, examples, timeout_in_ms)
    return orjson.dumps({"results": results})


def _label(label: str | bytes) -> str:
    return label.decode("utf-8", "replace") if isinstance(label, bytes) else label


def status(core: ServerCore, route: Route) -> bytes:
    # TF Serving ignores a label on the status route; so do we.
    states = model_status(core, route.model, route.version)
    return orjson.dumps(
        {
            "model_version_status": [
                {
                    "version": str(s.id.version),
                    "state": s.state.name,
                    "status": {
                        "error_code": s.error.code.name if s.error else "OK",
                        "error_message": s.error.message if s.error else "",
                    },
                }
                for s in states
            ]
        }
    )


def metadata(core: ServerCore, route: Route) -> bytes:
    servable_id, signature_defs = model_metadata(core, core.resolve(route.model, route.version, route.label))
    return orjson.dumps(
        {
            "model_spec": {"name": route.model, "signature_name": "", "version": str(servable_id.version)},
            "metadata": {"signature_def": {"signature_def": signature_defs_json(signature_defs)}},
        }
    )
