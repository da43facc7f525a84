"""OnnxServable: one ONNX Runtime InferenceSession behind a ``serving_default`` predict signature."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pyserving.backends.onnx.dtypes import UnsupportedType, numpy_dtype, tf_dtype
from pyserving.core.errors import InvalidArgumentError, ServingError, StatusCode
from pyserving.tensors.dtypes import DataType, from_numpy, short_name
from pyserving.tensors.shapes import dims_text
from pyserving.tensors.signature import Signature, TensorSpec

SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"


def _shape(arg: Any) -> tuple[tuple[int, ...] | None, tuple[str | None, ...]]:
    """(TF shape with -1 for symbolic or unknown dims, the symbolic names by position)."""
    if arg.shape is None:
        return None, ()
    dims = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
    names = tuple(d if isinstance(d, str) and d else None for d in arg.shape)
    return dims, names


def signature_of(session: Any) -> tuple[Signature, dict[str, tuple[str | None, ...]]]:
    """The session's graph inputs and outputs as one predict signature (aliases are the ONNX
    names), and each input's symbolic dim names; UnsupportedType names the offending tensor."""

    def specs(args: Sequence[Any], kind: str) -> dict[str, TensorSpec]:
        out = {}
        for arg in args:
            try:
                dtype = tf_dtype(arg.type)
            except UnsupportedType as exc:
                raise UnsupportedType(f"{kind} '{arg.name}': {exc}") from None
            out[arg.name] = TensorSpec(name=arg.name, dtype=int(dtype), shape=_shape(arg)[0])
        return out

    inputs, outputs = specs(session.get_inputs(), "input"), specs(session.get_outputs(), "output")
    symbols = {arg.name: _shape(arg)[1] for arg in session.get_inputs()}
    return Signature(SIGNATURE, PREDICT_METHOD, inputs, outputs), symbols


def _to_ort_strings(alias: str, array: np.ndarray) -> np.ndarray:
    """pyserving's strings (object arrays of bytes) -> ONNX Runtime's (object arrays of str)."""
    flat = array.reshape(-1)
    out = np.empty(flat.shape, dtype=object)
    for i, value in enumerate(flat):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidArgumentError(
                    f"input '{alias}': element {i} is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                    "ONNX string tensors hold UTF-8 text"
                ) from None
        elif not isinstance(value, str):
            raise InvalidArgumentError(f"input '{alias}': element {i} is {type(value).__name__}, not a string")
        out[i] = value
    return out.reshape(array.shape)


def _from_ort_strings(array: np.ndarray) -> np.ndarray:
    flat = array.reshape(-1)
    out = np.empty(flat.shape, dtype=object)
    for i, value in enumerate(flat):
        out[i] = value.encode("utf-8") if isinstance(value, str) else value
    return out.reshape(array.shape)


class OnnxServable:
    """Safe to call from many threads at once (``InferenceSession.run`` is).

    ``run`` checks every input against the graph (names, dtypes, ranks, fixed dims, and that
    inputs sharing a symbolic dim agree on it) before ONNX Runtime sees it, so a bad request
    is INVALID_ARGUMENT saying what was expected and what came, never an internal error.
    ``timeout_in_ms`` is ignored: a session run cannot be stopped early per call (callers
    enforce their deadlines).
    """

    def __init__(self, session: Any, version_dir: str, bounded_run_time: bool, errors: Any) -> None:
        self._session = session
        self._version_dir = version_dir
        self._errors = errors  # onnxruntime.capi.onnxruntime_pybind11_state
        signature, self._symbols = signature_of(session)
        self._signature = signature
        self._signatures = {SIGNATURE: signature}
        self._dtypes = {alias: numpy_dtype(DataType(spec.dtype)) for alias, spec in signature.inputs.items()}
        self._string_outputs = frozenset(
            alias for alias, spec in signature.outputs.items() if spec.dtype == DataType.DT_STRING
        )
        # ONNX Runtime hands int64 back as numpy's ``longlong`` (char 'q'), equal to but not the same
        # type as ``int64`` (char 'l' on Linux); JSON encoders and TensorProto codecs look at the type.
        self._output_dtypes = {
            alias: numpy_dtype(DataType(spec.dtype))
            for alias, spec in signature.outputs.items()
            if alias not in self._string_outputs
        }
        self._bounded = bounded_run_time

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    @property
    def version_dir(self) -> str:
        return self._version_dir

    @property
    def batchable(self) -> bool:
        """Requests stack along dim 0 only when every input's first dim is free (``-1``)."""
        return all(
            spec.shape is not None and len(spec.shape) > 0 and spec.shape[0] == -1
            for spec in self._signature.inputs.values()
        )

    @property
    def caller_thread_run(self) -> Callable[..., dict[str, Any]] | None:
        """``run`` itself for straight-line graphs: a session run happens on the calling thread
        (and ONNX Runtime's intra-op pool) anyway; None with Loop/Scan/If (see model_file.py)."""
        return self.run if self._bounded else None

    def metadata(self) -> None:
        return None  # SignatureDefs are built from ``signatures`` (apis/signature_proto.py)

    def run(
        self, signature_name: str, inputs: Mapping[str, Any], output_keys: Sequence[str], timeout_in_ms: int = 0
    ) -> dict[str, Any]:
        if signature_name != SIGNATURE:
            raise ServingError(f'Serving signature key "{signature_name}" not found.', StatusCode.FAILED_PRECONDITION)
        feed = self._feed(inputs)
        for key in output_keys:
            if key not in self._signature.outputs:
                raise InvalidArgumentError(
                    f"output tensor alias not found in signature: {key} Outputs expected to be in the set "
                    f"{{{','.join(sorted(self._signature.outputs))}}}."
                )
        try:
            values = self._session.run(list(output_keys), feed)
        except self._errors.InvalidArgument as exc:
            raise InvalidArgumentError(str(exc)) from exc
        except (self._errors.Fail, self._errors.RuntimeException) as exc:
            # A kernel's failure ("Non-zero status code returned while running Add node ...") comes
            # from the values fed (e.g. two inputs that do not broadcast): the request's fault.
            text = str(exc)
            code = StatusCode.INVALID_ARGUMENT if "returned while running" in text else StatusCode.INTERNAL
            raise ServingError(text, code) from exc
        out = {}
        for key, value in zip(output_keys, values, strict=True):
            if key in self._string_outputs:
                value = _from_ort_strings(value)
            else:
                canonical = self._output_dtypes[key]
                if value.dtype.type is not canonical.type and value.dtype == canonical:
                    value = value.view(canonical)  # same bytes, the canonical numpy type
            out[key] = value
        return out

    def _feed(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        expected = self._signature.inputs
        missing = sorted(set(expected) - set(inputs))
        extra = sorted(set(inputs) - set(expected))
        if missing or extra:
            raise InvalidArgumentError(
                f"inputs do not match the model's: expected {{{','.join(sorted(expected))}}}, got "
                f"{{{','.join(sorted(inputs))}}} (missing: {{{','.join(missing)}}}, "
                f"unknown: {{{','.join(extra)}}})"
            )
        feed: dict[str, np.ndarray] = {}
        bound: dict[str, tuple[str, int]] = {}  # symbolic dim -> (input that set it, size)
        for alias, array in inputs.items():
            spec = expected[alias]
            dtype = self._dtypes[alias]
            if array.dtype != dtype and not (dtype.kind == "O" and array.dtype.kind in "OSU"):
                actual = "string" if array.dtype.kind in "OSU" else _dtype_name(array.dtype)
                raise InvalidArgumentError(f"input '{alias}': expected dtype {short_name(spec.dtype)} but got {actual}")
            if spec.shape is not None:
                self._check_shape(alias, spec.shape, array.shape, bound)
            if dtype.kind == "O":
                array = _to_ort_strings(alias, np.asarray(array, dtype=object))
            feed[alias] = array
        return feed

    def _check_shape(
        self, alias: str, shape: tuple[int, ...], actual: tuple[int, ...], bound: dict[str, tuple[str, int]]
    ) -> None:
        def wrong(reason: str = "") -> InvalidArgumentError:
            return InvalidArgumentError(
                f"input '{alias}': expected shape {dims_text(shape)} but got {dims_text(actual)}{reason}"
            )

        if len(actual) != len(shape):
            raise wrong()
        for axis, (want, got) in enumerate(zip(shape, actual, strict=True)):
            if want >= 0 and want != got:
                raise wrong()
            names = self._symbols.get(alias, ())
            symbol = names[axis] if axis < len(names) else None
            if symbol is None:
                continue
            first = bound.setdefault(symbol, (alias, got))
            if first[1] != got:
                raise wrong(f" (dim {axis} is '{symbol}', which input '{first[0]}' sets to {first[1]})")

    def close(self) -> None:
        self._session = None


def _dtype_name(dtype: np.dtype) -> str:
    try:
        return short_name(from_numpy(dtype))
    except ValueError:
        return str(dtype)
