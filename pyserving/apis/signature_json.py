"""SignatureDef protos to TF Serving's metadata JSON (protobuf's JSON mapping, field names kept)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format


def signature_defs_json(signature_defs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: json_format.MessageToDict(sig, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        for key, sig in sorted(signature_defs.items())
    }
