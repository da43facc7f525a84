#!/bin/sh
# pyserving's equivalent of TF Serving's /usr/bin/tf_serving_entrypoint.sh.
#
# Same flags and environment as the tensorflow/serving image: gRPC on 8500, REST on 8501,
# the model at ${MODEL_BASE_PATH}/${MODEL_NAME}. Extra `docker run IMAGE ...` arguments are
# appended, and a flag given twice takes its last value, so e.g.
#   docker run IMAGE --model_config_file=/models/models.config   (name and base path then ignored)
#   docker run IMAGE --rest_api_port=9000 --monitoring_config_file=/etc/pyserving/monitoring.txt
# work as with TF Serving. `exec` makes the server PID 1's process, so it receives SIGTERM
# directly and shuts down gracefully (see docs/operations.md).
set -e
: "${MODEL_NAME:=model}"
: "${MODEL_BASE_PATH:=/models}"
exec "${PYSERVING_BIN:-pyserving}" serve --port=8500 --rest_api_port=8501 \
    --model_name="${MODEL_NAME}" --model_base_path="${MODEL_BASE_PATH}/${MODEL_NAME}" "$@"
