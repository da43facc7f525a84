"""Generate ``pyserving/protos/``: pyserving's own protobuf and gRPC modules.

Why: ``tensorflow-serving-api``'s ``_pb2`` modules import the ``tensorflow`` package (~3 s, ~650 MB),
so the server and its clients carry pyserving's own copies of the same ``.proto`` files.

Source of the descriptors: the ``FileDescriptorProto`` s embedded in the released wheels named in
``UPSTREAM`` (``--collect`` reads them from the installed packages and writes
``scripts/protos/descriptors.binpb``), plus the ``.proto`` texts under ``scripts/protos/extra/`` for
the files no wheel ships. Taking the wheels' own bytes keeps every file byte-identical to what
TensorFlow, tensorflow-serving-api and tritonclient register in protobuf's default pool, which is
what lets both copies live in one process (``pyserving/protos/README.md``).

Generation: grpcio-tools' ``protoc`` with ``--descriptor_set_in`` (``--python_out``,
``--pyi_out``, ``--grpc_python_out``), then two rewrites: imports point into ``pyserving.protos``,
and each file is registered through ``pyserving.protos._registry`` (tolerates a differing copy that
another package registered first).

    .venv/bin/python scripts/gen_protos.py --collect   # re-read the installed wheels, then generate
    .venv/bin/python scripts/gen_protos.py             # generate from scripts/protos/descriptors.binpb
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "pyserving" / "protos"
DESCRIPTORS = ROOT / "scripts" / "protos" / "descriptors.binpb"
EXTRA = ROOT / "scripts" / "protos" / "extra"
PACKAGE = "pyserving.protos"

# The wheels whose embedded descriptors are taken, and the roots of the file closure.
UPSTREAM = ("tensorflow", "tensorflow-serving-api", "tritonclient")
ROOT_PACKAGES = ("tensorflow_serving.apis", "tensorflow_serving.config")
ROOT_MODULES = (
    "tensorflow.core.protobuf.saved_model_pb2",
    "tensorflow.core.example.example_pb2",
    "tritonclient.grpc.service_pb2",  # grpc_service.proto (package inference)
    "tritonclient.grpc.model_config_pb2",
)
# Files with services: these get a _pb2_grpc module.
SERVICES = (
    "tensorflow_serving/apis/prediction_service.proto",
    "tensorflow_serving/apis/model_service.proto",
    "tensorflow_serving/apis/session_service.proto",
    "grpc_service.proto",
)
# Triton's files live at the root of their repository; their Python home is pyserving.protos.inference.
TOP_LEVEL_HOME = "inference"


def module_of(file_name: str) -> str:
    """pyserving's module for a .proto file name (``a/b/c.proto`` -> ``pyserving.protos.a.b.c_pb2``)."""
    stem = file_name.removesuffix(".proto")
    if "/" not in stem:
        stem = f"{TOP_LEVEL_HOME}/{stem}"
    return f"{PACKAGE}.{stem.replace('/', '.')}_pb2"


def collect() -> None:
    """Write the closure of the served files, as the installed wheels embed them, to DESCRIPTORS."""
    from google.protobuf import descriptor_pb2

    files: dict[str, bytes] = {}

    def walk(fd: object) -> None:
        name = fd.name  # type: ignore[attr-defined]
        if name in files:
            return
        for dep in fd.dependencies:  # type: ignore[attr-defined]
            walk(dep)
        files[name] = fd.serialized_pb  # type: ignore[attr-defined]

    for package_name in ROOT_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.endswith("_pb2"):
                walk(importlib.import_module(f"{package_name}.{info.name}").DESCRIPTOR)
    for module_name in ROOT_MODULES:
        walk(importlib.import_module(module_name).DESCRIPTOR)

    file_set = descriptor_pb2.FileDescriptorSet()
    for data in files.values():  # dependencies first
        file_set.file.add().MergeFromString(data)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = Path(tmp) / "wheels.binpb"
        wheels.write_bytes(file_set.SerializeToString())
        extra_out = Path(tmp) / "extra.binpb"
        extra = sorted(str(p.relative_to(EXTRA)) for p in EXTRA.rglob("*.proto"))
        protoc(f"--descriptor_set_in={wheels}", f"--proto_path={EXTRA}", f"--descriptor_set_out={extra_out}", *extra)
        for proto in descriptor_pb2.FileDescriptorSet.FromString(extra_out.read_bytes()).file:
            file_set.file.add().CopyFrom(proto)
    DESCRIPTORS.parent.mkdir(parents=True, exist_ok=True)
    DESCRIPTORS.write_bytes(file_set.SerializeToString())
    versions = ", ".join(f"{name} {version(name)}" for name in UPSTREAM)
    (DESCRIPTORS.parent / "VERSIONS").write_text(f"{versions}\n")
    print(f"{len(file_set.file)} files from {versions}")


def protoc(*args: str) -> None:
    """grpcio-tools' protoc, in a child process (in-process it crashes next to TensorFlow's libprotobuf)."""
    done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", *args], check=False)
    if done.returncode != 0:
        raise SystemExit(f"protoc failed ({done.returncode}): {' '.join(args)}")


_FROM_IMPORT = re.compile(r"^from ([\w.]+) import (\w+_pb2)( as \w+)?$", re.M)
_STAR_IMPORT = re.compile(r"^from ([\w.]+_pb2) import \*$", re.M)  # a `import public` dependency
_PLAIN_IMPORT = re.compile(r"^import (\w+_pb2)( as \w+)?$", re.M)
_REGISTER = "_descriptor_pool.Default().AddSerializedFile("


def rewrite(text: str, names: set[str]) -> str:
    """Point imports of the generated files into pyserving.protos; register through _registry."""

    def from_import(match: re.Match[str]) -> str:
        module = f"{match[1]}.{match[2]}"
        file_name = module.removesuffix("_pb2").replace(".", "/") + ".proto"
        if file_name not in names:
            return match[0]  # google.protobuf and other runtime modules
        new = module_of(file_name)
        parent, _, leaf = new.rpartition(".")
        return f"from {parent} import {leaf}{match[3] or ''}"

    def plain_import(match: re.Match[str]) -> str:
        file_name = match[1].removesuffix("_pb2") + ".proto"
        if file_name not in names:
            return match[0]
        parent, _, leaf = module_of(file_name).rpartition(".")
        return f"from {parent} import {leaf}{match[2] or ''}"

    def star_import(match: re.Match[str]) -> str:
        return f"from {_new_module(match[1], names)} import *"

    text = _FROM_IMPORT.sub(from_import, text)
    text = _STAR_IMPORT.sub(star_import, text)
    text = _PLAIN_IMPORT.sub(plain_import, text)
    if _REGISTER in text:
        text = text.replace(_REGISTER, "_registry.add_serialized_file(")
        text = text.replace(
            "from google.protobuf.internal import builder as _builder\n",
            "from google.protobuf.internal import builder as _builder\nfrom pyserving.protos import _registry\n",
        )
    # The module name given to the builder becomes the classes' __module__.
    text = re.sub(
        r"_builder\.BuildTopDescriptorsAndMessages\(DESCRIPTOR, '([\w.]+)', _globals\)",
        lambda m: f"_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, '{_new_module(m[1], names)}', _globals)",
        text,
    )
    return text


def _new_module(old: str, names: set[str]) -> str:
    file_name = old.removesuffix("_pb2").replace(".", "/") + ".proto"
    return module_of(file_name) if file_name in names else old


def generate() -> None:
    from google.protobuf import descriptor_pb2

    file_set = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    # google/protobuf/*: protobuf's own modules (the files are in the set for protoc only).
    names = {f.name for f in file_set.file if not f.name.startswith("google/protobuf/")}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        protoc(
            f"--descriptor_set_in={DESCRIPTORS}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            *sorted(names),
        )
        protoc(f"--descriptor_set_in={DESCRIPTORS}", f"--grpc_python_out={out}", *SERVICES)
        keep = {p for p in OUT.glob("*") if p.name in {"__init__.py", "_registry.py", "README.md"}}
        for path in OUT.iterdir():
            if path not in keep:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        for source in sorted(out.rglob("*")):
            if not source.is_file():
                continue
            relative = source.relative_to(out)
            if len(relative.parts) == 1:
                relative = Path(TOP_LEVEL_HOME) / relative
            target = OUT / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(rewrite(source.read_text(), names))
        for folder in [OUT, *(p for p in OUT.rglob("*") if p.is_dir() and p.name != "__pycache__")]:
            init = folder / "__init__.py"
            if not init.exists():
                init.write_text("")
    print(f"generated {len(names)} files into {OUT.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collect", action="store_true", help="re-read the descriptors from the installed wheels")
    args = parser.parse_args()
    if args.collect:
        collect()
    generate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
