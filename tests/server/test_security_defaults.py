"""The management surfaces can be closed: --enable_reload_config_rpc=false, --enable_config_endpoint=false.

Both are open by default (docs/security.md says why); the default server's behaviour is covered by
test_grpc_fuzz.py (reloads) and test_config_reload.py (GET /v1/config).
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import requests
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

from tests.helpers.server import start_server


def test_closed_management_surfaces(model_root: Path, tmp_path: Path) -> None:
    server = start_server(
        [
            f"--model_base_path={model_root / 'half_plus_two'}",
            "--model_name=m",
            "--enable_reload_config_rpc=false",
            "--enable_config_endpoint=false",
        ],
        tmp_path,
        wait_models=["m"],
    )
    try:
        request = model_management_pb2.ReloadConfigRequest()
        config = request.config.model_config_list.config.add()
        config.name, config.base_path, config.model_platform = (
            "other",
            str(model_root / "half_plus_three"),
            "tensorflow",
        )
        with grpc.insecure_channel(server.grpc_address) as channel:
            with pytest.raises(grpc.RpcError) as info:
                model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "--enable_reload_config_rpc=false" in info.value.details()
        r = requests.get(f"{server.rest_url}/v1/config", timeout=10)
        assert r.status_code == 400 and r.json() == {"error": "Malformed request: GET /v1/config"}  # as TF Serving
        assert requests.get(f"{server.rest_url}/v1/models/other", timeout=10).status_code == 404  # not loaded
        assert requests.post(
            f"{server.rest_url}/v1/models/m:predict", json={"instances": [[1.0]]}, timeout=10
        ).json() == {"predictions": [[2.5]]}
    finally:
        server.stop()


def test_a_broken_ssl_config_is_not_quoted_in_the_error(model_root: Path, tmp_path: Path) -> None:

    from tests.helpers.server import free_port, run_serve

    broken = tmp_path / "ssl.config"
    broken.write_text('server_key: "-----BEGIN PRIVATE KEY-----\\nMIIsecret" MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n')
    done = run_serve(
        f"--model_base_path={model_root / 'half_plus_two'}",
        "--host=127.0.0.1",
        f"--port={free_port()}",
        f"--rest_api_port={free_port()}",
        f"--ssl_config_file={broken}",
    )
    assert done.returncode == 255
    assert "Error parsing text-format SSLConfig" in done.stderr and "at line:column 1:" in done.stderr
    assert "MIIEvQ" not in done.stderr + done.stdout and "MIIsecret" not in done.stderr + done.stdout
