"""Parse TF Serving's BatchingParameters text proto (--batching_parameters_file).

tensorflow-serving-api does not ship the message, so it is declared here from
TF Serving's field list (session_bundle_config.proto) as a descriptor and parsed
with protobuf ``text_format`` like every other config file.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from pyserving.batching.options import BatchingOptions
from pyserving.config.settings import ServerSettings
from pyserving.core.errors import InvalidArgumentError

# (name, number, type, wrapper message or None, repeated)
_FIELDS = [
    ("max_batch_size", 1, "Int64Value", False),
    ("batch_timeout_micros", 2, "Int64Value", False),
    ("max_enqueued_batches", 3, "Int64Value", False),
    ("num_batch_threads", 4, "Int64Value", False),
    ("thread_pool_name", 5, "StringValue", False),
    ("allowed_batch_sizes", 6, "int64", True),
    ("pad_variable_length_inputs", 7, "bool", False),
    ("enable_large_batch_splitting", 8, "BoolValue", False),
    ("max_execution_batch_size", 9, "Int64Value", False),
]


@functools.cache
def batching_parameters_class() -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="pyserving/batching_parameters.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = file_proto.message_type.add(name="BatchingParameters")
    kinds = descriptor_pb2.FieldDescriptorProto
    for name, number, kind, repeated in _FIELDS:
        field = message.field.add(
            name=name, number=number, label=kinds.LABEL_REPEATED if repeated else kinds.LABEL_OPTIONAL
        )
        if kind == "int64":
            field.type = kinds.TYPE_INT64
        elif kind == "bool":
            field.type = kinds.TYPE_BOOL
        else:
            field.type = kinds.TYPE_MESSAGE
            field.type_name = f".google.protobuf.{kind}"
    pool.Add(file_proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


def parse_batching_parameters(text: str, source: str = "<text>") -> BatchingOptions:
    from pyserving.config._proto import parse_text

    params = parse_text(batching_parameters_class()(), text, source)
    defaults = BatchingOptions()
    max_batch_size = params.max_batch_size.value if params.HasField("max_batch_size") else defaults.max_batch_size
    try:
        return BatchingOptions(
            max_batch_size=max_batch_size,
            batch_timeout_micros=_value(params, "batch_timeout_micros", defaults.batch_timeout_micros),
            max_enqueued_batches=_value(params, "max_enqueued_batches", defaults.max_enqueued_batches),
            num_batch_threads=_value(params, "num_batch_threads", defaults.num_batch_threads),
            allowed_batch_sizes=tuple(params.allowed_batch_sizes),
            pad_variable_length_inputs=params.pad_variable_length_inputs,
            enable_large_batch_splitting=_value(params, "enable_large_batch_splitting", False),
            max_execution_batch_size=_value(params, "max_execution_batch_size", 0),
        )
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


def _value(params: Any, name: str, default: Any) -> Any:
    return getattr(params, name).value if params.HasField(name) else default


def read_batching_parameters(path: str) -> BatchingOptions:
    from pyserving.config._proto import read_text

    return parse_batching_parameters(read_text(path, "batching_parameters_file"), path)


def version_batching_options(version_dir: str) -> BatchingOptions | None:
    """``<version dir>/batching_params.pbtxt`` (``--enable_per_model_batching_parameters``), or None."""
    path = os.path.join(version_dir, "batching_params.pbtxt")
    return read_batching_parameters(path) if os.path.isfile(path) else None


def batching_options(settings: ServerSettings) -> BatchingOptions | None:
    if not settings.enable_batching:
        return None
    if settings.batching_parameters_file:
        return read_batching_parameters(settings.batching_parameters_file)
    return BatchingOptions()
