"""Registers pyserving's generated files in protobuf's default pool, beside other copies of them.

TensorFlow, tensorflow-serving-api and tritonclient register the same ``.proto`` files under the same
names. The default pool accepts a file again when the new copy equals the registered one (that is
the case for the versions ``scripts/protos/VERSIONS`` names: the bytes are theirs), and refuses a
differing copy ("duplicate file name"). When another package got there first with a differing copy
(another TensorFlow release), pyserving reuses that copy: its classes then come from it, and the
fields pyserving reads are in every release.
"""

from __future__ import annotations

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool


def add_serialized_file(serialized: bytes) -> descriptor.FileDescriptor:
    """The pool's descriptor for ``serialized``: added now, or the copy already registered."""
    pool = descriptor_pool.Default()
    try:
        return pool.AddSerializedFile(serialized)
    except TypeError as error:  # upb and the pure-Python pool both refuse a differing copy so
        name = descriptor_pb2.FileDescriptorProto.FromString(serialized).name
        try:
            return pool.FindFileByName(name)
        except KeyError:
            raise error from None  # a clash of symbols under another file name: nothing to reuse
