"""Registers pyserving's generated files in protobuf's default pool, beside other copies of them.

TensorFlow, tensorflow-serving-api and tritonclient register the same ``.proto`` files under the same
names, and their modules call ``AddSerializedFile`` themselves. The default pool takes a file again
only when the new copy is equal to the registered one; a differing copy is refused ("duplicate file
name"), which would break whichever package comes second. So, for each file:

1. already registered (that package was imported first): reuse that copy;
2. else, when an installed package ships the file (read from its ``_pb2.py`` source, without importing
   it: importing ``tensorflow_serving`` imports TensorFlow): register that package's copy, so that
   its own import later finds an equal copy, whatever its release;
3. else register pyserving's copy (the bytes of the releases in ``scripts/protos/VERSIONS``).

Either way the fields pyserving uses are in every release, and both sides get the same classes.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool

# Where an installed package keeps its module for a file: (file-name prefix, package, path in the package).
_SHIPPERS = (
    ("tensorflow_serving/", "tensorflow_serving", ""),
    ("tensorflow/", "tensorflow", ""),
    ("xla/", "tensorflow", "compiler/xla/"),
)
_TRITON = {"grpc_service.proto": "grpc/service_pb2.py", "model_config.proto": "grpc/model_config_pb2.py"}
_LITERAL = re.compile(rb"""AddSerializedFile\((b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*")\)""")


def add_serialized_file(serialized: bytes) -> descriptor.FileDescriptor:
    """The default pool's descriptor for this file: the copy registered already, an installed one, or ours."""
    pool = descriptor_pool.Default()
    name = descriptor_pb2.FileDescriptorProto.FromString(serialized).name
    try:
        return pool.FindFileByName(name)
    except KeyError:
        pass
    installed = installed_copy(name)
    if installed is not None and installed != serialized:
        try:
            return pool.AddSerializedFile(installed)
        except TypeError:  # its release depends on files or symbols the pool lacks: ours will do
            pass
    return pool.AddSerializedFile(serialized)


def installed_copy(name: str) -> bytes | None:
    """The serialized file an installed TensorFlow, tensorflow-serving-api or tritonclient registers, if any."""
    location = _module_path(name)
    if location is None:
        return None
    try:
        source = location.read_bytes()
    except OSError:
        return None
    match = _LITERAL.search(source)
    if match is None:
        return None
    try:
        value = ast.literal_eval(match[1].decode("ascii"))
    except (ValueError, SyntaxError, UnicodeDecodeError):
        return None
    return value if isinstance(value, bytes) else None


def _module_path(name: str) -> Path | None:
    if name in _TRITON:
        root = _package_dir("tritonclient")
        return None if root is None else root / _TRITON[name]
    for prefix, package, inside in _SHIPPERS:
        if name.startswith(prefix):
            root = _package_dir(package)
            relative = inside + name.removeprefix(prefix).removesuffix(".proto") + "_pb2.py"
            return None if root is None else root / relative
    return None


@functools.cache
def _package_dir(package: str) -> Path | None:
    """A top-level package's folder, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
