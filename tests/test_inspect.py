"""``pyserving.tools.inspect_model`` must print what ``saved_model_cli show`` prints.

Why: users compare our ``pyserving inspect`` output with the TensorFlow tool
they know; the structured form also feeds the server's metadata code.  The
reference output comes from running the real ``saved_model_cli`` (next to
``sys.executable``) as subprocesses, started in parallel once per module to
keep the suite fast.  The only normalisation is the op-set line, which
``saved_model_cli`` prints as an unordered Python set.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyserving.tools import inspect_model as sm_inspect
from tests.helpers import models
from tests.helpers.shared import LSTM_MODEL, latest_version

SAVED_MODEL_CLI = Path(sys.executable).parent / "saved_model_cli"
LSTM_VERSION = latest_version(LSTM_MODEL)
OPS_LINE = re.compile(r"^(The MetaGraph with tag set .* contains the following ops: )(.*)$", re.M)

requires_cli = pytest.mark.skipif(not SAVED_MODEL_CLI.exists(), reason="saved_model_cli is not installed")
requires_lstm = pytest.mark.skipif(LSTM_VERSION is None, reason="examples/models/lstm is absent")


def _normalise(text: str) -> str:
    """Replace each printed op set by its sorted list (set order is random)."""

    def repl(m: re.Match[str]) -> str:
        ops = set() if m.group(2) == "set()" else ast.literal_eval(m.group(2))
        assert isinstance(ops, set)
        return m.group(1) + repr(sorted(ops))

    return OPS_LINE.sub(repl, text)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("inspect_models")
    return {
        "half_plus_two": models.export_half_plus_two(base / "half_plus_two" / "1", with_x2_classify=True),
        "tf2": models.export_tf2_half_plus_two(base / "tf2" / "1"),
        "string": models.export_string_model(base / "string" / "1"),
    }


@pytest.fixture(scope="module")
def cli_output(exported: dict[str, Path]) -> dict[str, str]:
    """stdout of saved_model_cli for several invocations, run concurrently."""
    if not SAVED_MODEL_CLI.exists():
        pytest.skip("saved_model_cli is not installed")
    hp2 = str(exported["half_plus_two"])
    runs: dict[str, list[str]] = {
        "hp2_all": ["show", "--all", "--dir", hp2],
        "tf2_all": ["show", "--all", "--dir", str(exported["tf2"])],
        "hp2_keys": ["show", "--dir", hp2, "--tag_set", "serve"],
        "hp2_sig": ["show", "--dir", hp2, "--tag_set", "serve", "--signature_def", "regress_x2_to_y3"],
    }
    if LSTM_VERSION is not None:
        runs["lstm_all"] = ["show", "--all", "--dir", str(LSTM_VERSION)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    procs = {
        key: subprocess.Popen(
            [str(SAVED_MODEL_CLI), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for key, args in runs.items()
    }
    out: dict[str, str] = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"saved_model_cli {runs[key]} failed:\n{stderr[-2000:]}"
        out[key] = stdout
    return out


@requires_cli
@requires_lstm
def test_show_all_matches_saved_model_cli_lstm(cli_output: dict[str, str]) -> None:
    got = sm_inspect.format_show_all(sm_inspect.inspect_saved_model(str(LSTM_VERSION)))
    assert _normalise(got) == _normalise(cli_output["lstm_all"])
    assert "shape: (-1, -1)" in got and "Concrete Functions" not in got


@requires_cli
def test_show_all_matches_saved_model_cli_half_plus_two(cli_output: dict[str, str], exported: dict[str, Path]) -> None:
    got = sm_inspect.format_show_all(sm_inspect.inspect_saved_model(exported["half_plus_two"]))
    assert _normalise(got) == _normalise(cli_output["hp2_all"])
    assert "shape: unknown_rank" in got


@requires_cli
def test_show_all_matches_saved_model_cli_tf2(cli_output: dict[str, str], exported: dict[str, Path]) -> None:
    """TF2 models include the "Concrete Functions" section, rebuilt without loading."""
    info = sm_inspect.inspect_saved_model(exported["tf2"])
    got = sm_inspect.format_show_all(info)
    assert _normalise(got) == _normalise(cli_output["tf2_all"])
    assert "\nConcrete Functions:" in got
    assert info["concrete_functions"]["error"] is None
    assert [f["name"] for f in info["concrete_functions"]["functions"]] == ["serve"]


@requires_cli
def test_tag_set_and_signature_views_match_saved_model_cli(
    cli_output: dict[str, str], exported: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    hp2 = str(exported["half_plus_two"])
    assert sm_inspect.main([hp2, "--tag_set", "serve"]) == 0
    assert capsys.readouterr().out == cli_output["hp2_keys"]
    assert sm_inspect.main([hp2, "--tag_set", "serve", "--signature_def", "regress_x2_to_y3"]) == 0
    assert capsys.readouterr().out == cli_output["hp2_sig"]


def test_structured_info_for_string_model(exported: dict[str, Path]) -> None:
    info = sm_inspect.inspect_saved_model(exported["string"])
    assert list(info["tag_sets"]) == ["serve"]
    serve = info["tag_sets"]["serve"]
    assert serve["tags"] == ["serve"]
    assert "HashTableV2" in serve["ops"] and serve["ops"] == sorted(serve["ops"])
    sig = serve["signature_defs"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"] == {
        "nwords": {"dtype": "DT_INT32", "shape": [-1], "name": "nwords:0"},
        "words": {"dtype": "DT_STRING", "shape": [-1, -1], "name": "words:0"},
    }
    assert sig["outputs"]["classes_id"] == {"dtype": "DT_INT64", "shape": [-1], "name": "ArgMax:0"}
    assert sig["outputs"]["softmax"]["shape"] == [-1, 3]
    assert info["concrete_functions"] is None


def test_scalar_and_unknown_rank_shapes(exported: dict[str, Path], tmp_path: Path) -> None:
    hp2 = sm_inspect.inspect_saved_model(exported["half_plus_two"])["tag_sets"]["serve"]["signature_defs"]
    assert hp2["classify_x_to_y"]["inputs"]["inputs"]["shape"] is None
    dtypes = sm_inspect.select(
        sm_inspect.inspect_saved_model(models.export_dtypes_model(tmp_path / "dtypes" / "1")),
        signature_def="scalar",
    )
    text = sm_inspect.format_signature_def(dtypes)
    assert "  inputs['x'] tensor_info:\n      dtype: DT_FLOAT\n      shape: ()\n      name: scalar_x:0\n" in text


def test_json_cli(exported: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = str(exported["string"])
    assert sm_inspect.main([path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(json.dumps(sm_inspect.inspect_saved_model(path)))
    assert sm_inspect.main([path, "--json", "--signature_def", "serving_default"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["tag_sets"]["serve"]["signature_defs"]) == ["serving_default"]
    assert "concrete_functions" not in data


def test_json_dtypes_and_non_ascii(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON keeps non-ASCII text as-is (ensure_ascii=False) and reports every dtype."""
    path = models.export_dtypes_model(tmp_path / "模型" / "1")
    assert sm_inspect.main([str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert "模型" in out
    sigs = json.loads(out)["tag_sets"]["serve"]["signature_defs"]
    assert sigs["scalar"]["inputs"]["x"]["shape"] == []
    assert sigs["no_input"]["inputs"] == {}
    assert sigs["serving_default"]["outputs"]["out_bytes"]["dtype"] == "DT_STRING"
    assert {k: v["dtype"] for k, v in sigs["serving_default"]["inputs"].items()} == {
        "b": "DT_BOOL",
        "f32": "DT_FLOAT",
        "f64": "DT_DOUBLE",
        "i16": "DT_INT16",
        "i32": "DT_INT32",
        "i64": "DT_INT64",
        "i8": "DT_INT8",
        "raw_bytes": "DT_STRING",
        "s": "DT_STRING",
        "u32": "DT_UINT32",
        "u8": "DT_UINT8",
    }


def test_missing_saved_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FileNotFoundError) as err:
        sm_inspect.inspect_saved_model(str(tmp_path))
    assert str(err.value) == f"SavedModel file does not exist at: {tmp_path}/{{saved_model.pbtxt|saved_model.pb}}"
    assert sm_inspect.main([str(tmp_path / "nope")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "SavedModel file does not exist at:" in captured.err


def test_bad_model_and_bad_selection(
    tmp_path: Path, exported: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = models.write_broken_version(tmp_path / "m" / "1", "garbage")
    with pytest.raises(sm_inspect.InspectError, match="Cannot parse proto file"):
        sm_inspect.inspect_saved_model(garbage)
    assert sm_inspect.main([str(garbage)]) == 1
    assert capsys.readouterr().err.startswith("error: Cannot parse proto file")
    hp2 = str(exported["half_plus_two"])
    assert sm_inspect.main([hp2, "--tag_set", "gpu"]) == 1
    assert "could not be found in the SavedModel" in capsys.readouterr().err
    assert sm_inspect.main([hp2, "--signature_def", "nope"]) == 1
    assert 'Could not find signature "nope"' in capsys.readouterr().err
    # A model base dir gets a hint pointing at its newest version.
    assert sm_inspect.main([str(tmp_path / "m")]) == 1
    assert "try " + str(tmp_path / "m" / "1") in capsys.readouterr().err


def test_pbtxt_is_read(tmp_path: Path, exported: dict[str, Path]) -> None:
    import shutil

    from google.protobuf import text_format

    src = exported["half_plus_two"]
    dst = tmp_path / "pbtxt"
    shutil.copytree(src, dst)
    saved_model = sm_inspect.read_saved_model(dst)
    (dst / "saved_model.pb").unlink()
    (dst / "saved_model.pbtxt").write_text(text_format.MessageToString(saved_model))
    expected = sm_inspect.inspect_saved_model(src)
    got = sm_inspect.inspect_saved_model(dst)
    assert got["tag_sets"] == expected["tag_sets"]


def test_import_does_not_import_tensorflow() -> None:
    code = "import sys, pyserving.tools.inspect_model; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    repo_root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root, timeout=60)
