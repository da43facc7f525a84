"""The iris classifier (``train.py``) served as a Python model: features in, class and probabilities out."""

from __future__ import annotations

import os

import joblib
import numpy as np

from pyserving.backends.python import PythonModel, Tensor


class Model(PythonModel):
    inputs = {"features": Tensor("float32", [-1, 4])}  # sepal length/width, petal length/width (cm)
    outputs = {
        "class_id": Tensor("int64", [-1]),
        "class_name": Tensor("string", [-1]),
        "probabilities": Tensor("float32", [-1, 3]),
    }
    batching = True

    def load(self, version_dir: str) -> None:
        saved = joblib.load(os.path.join(version_dir, "model.joblib"))
        self.pipeline = saved["pipeline"]
        self.classes = np.array([name.encode() for name in saved["classes"]], dtype=object)

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        probabilities = self.pipeline.predict_proba(inputs["features"])
        class_id = probabilities.argmax(axis=1)
        return {"class_id": class_id, "class_name": self.classes[class_id], "probabilities": probabilities}
