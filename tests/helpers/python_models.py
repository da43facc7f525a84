"""Python model version folders (``model_platform: "python"``) written by the tests.

Each ``write_*`` writes ``<path>/model.py`` atomically (staged beside it, then renamed), so a
polling server never sees half a folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from pathlib import Path

HALF_PLUS = '''
import numpy as np
from pyserving.backends.python import PythonModel, Tensor


class Model(PythonModel):
    """y = 0.5 * x + {b}: the Python twin of half_plus_two."""

    inputs = {{"x": Tensor("float32", [-1, 1])}}
    outputs = {{"y": Tensor("float32", [-1, 1])}}
    batching = True

    def load(self, version_dir):
        self.b = np.float32({b})

    def predict(self, inputs):
        return {{"y": np.float32(0.5) * inputs["x"] + self.b}}
'''

RAISES_IN_PREDICT = """
from pyserving.backends.python import PythonModel, Tensor


class Model(PythonModel):
    inputs = {"x": Tensor("float32", [-1])}
    outputs = {"y": Tensor("float32", [-1])}

    def predict(self, inputs):
        raise ZeroDivisionError("the model divided by zero on purpose")
"""

RAISES_IN_LOAD = """
from pyserving.backends.python import PythonModel, Tensor


class Model(PythonModel):
    inputs = {"x": Tensor("float32", [-1])}
    outputs = {"y": Tensor("float32", [-1])}

    def load(self, version_dir):
        raise FileNotFoundError("weights.bin is missing from " + version_dir)
"""

STRINGS = '''
import numpy as np
from pyserving.backends.python import PythonModel, Tensor


class Model(PythonModel):
    """Counts the bytes of each string and upper-cases it."""

    inputs = {"text": Tensor("string", [-1]), "times": Tensor("int64", [-1])}
    outputs = {"length": Tensor("int64", [-1]), "upper": Tensor("string", [-1])}

    def predict(self, inputs):
        text = inputs["text"]
        return {"length": np.array([len(t) for t in text], np.int64) * inputs["times"],
                "upper": np.array([t.upper() for t in text], dtype=object)}
'''


def write_python_model(path: str | os.PathLike[str], source: str) -> Path:
    """``<path>/model.py`` holding ``source``; returns ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    (staging / "model.py").write_text(textwrap.dedent(source))
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def write_half_plus(path: str | os.PathLike[str], b: float = 2.0) -> Path:
    return write_python_model(path, HALF_PLUS.format(b=b))
