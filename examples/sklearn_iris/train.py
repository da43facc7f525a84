"""Trains the example: a scikit-learn pipeline on the iris data set that scikit-learn ships.

    .venv/bin/python examples/sklearn_iris/train.py

writes ``models/iris/1/model.joblib`` beside this file (``model.py`` there serves it).
No download: ``load_iris`` reads a CSV inside the scikit-learn package.
"""

from __future__ import annotations

from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

VERSION_DIR = Path(__file__).resolve().parent / "models" / "iris" / "1"


def main() -> None:
    data = load_iris()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(data.data, data.target)
    VERSION_DIR.mkdir(parents=True, exist_ok=True)
    joblib.dump({"pipeline": pipeline, "classes": list(data.target_names)}, VERSION_DIR / "model.joblib")
    print(
        f"accuracy on the training set: {pipeline.score(data.data, data.target):.3f}; "
        f"wrote {VERSION_DIR / 'model.joblib'}"
    )


if __name__ == "__main__":
    main()
