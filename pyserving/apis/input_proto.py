"""tensorflow.serving.Input (Classify/Regress/MultiInference, warmup records) -> serialized tf.Examples."""

from __future__ import annotations

from typing import Any


def serialized_examples(input_proto: Any) -> list[bytes]:
    """One serialized tf.Example per example.

    With a context, the context's bytes are prepended to every example (proto
    concatenation is a merge, so the example's own features win), as TF Serving does.
    """
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        return [example.SerializeToString() for example in input_proto.example_list.examples]
    if kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        context = with_context.context.SerializeToString()
        return [context + example.SerializeToString() for example in with_context.examples]
    return []
