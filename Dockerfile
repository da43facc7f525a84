# pyserving, following the tensorflow/serving image's conventions:
#   models under /models, MODEL_NAME (default "model") and MODEL_BASE_PATH (default /models),
#   gRPC on 8500 and REST on 8501, extra `docker run` arguments appended to the server's flags.
#
#   docker build -t pyserving .
#   docker run -p 8500:8500 -p 8501:8501 -v /path/to/half_plus_two:/models/half_plus_two \
#       -e MODEL_NAME=half_plus_two pyserving [--more --flags]
#
# The image runs as an unprivileged user (uid 1000); mounted models must be readable by it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MODEL_NAME=model \
    MODEL_BASE_PATH=/models

WORKDIR /opt/pyserving
# Dependencies first, so code changes do not reinstall TensorFlow. TF Serving's drop-in serves
# SavedModels, so the image has the [tensorflow] extra.
COPY pyproject.toml README.md ./
RUN mkdir pyserving && touch pyserving/__init__.py \
    && pip install '.[tensorflow]' && pip uninstall -y pyserving && rm -rf pyserving build
COPY pyserving ./pyserving
RUN pip install --no-deps . && rm -rf build \
    && useradd --system --uid 1000 --no-create-home --home-dir /nonexistent pyserving \
    && mkdir -p "${MODEL_BASE_PATH}"

COPY docker/entrypoint.sh /usr/bin/tf_serving_entrypoint.sh
RUN chmod 0755 /usr/bin/tf_serving_entrypoint.sh \
    && ln -s /usr/bin/tf_serving_entrypoint.sh /usr/bin/pyserving_entrypoint.sh

EXPOSE 8500 8501
USER 1000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/healthz', timeout=2)"
ENTRYPOINT ["/usr/bin/tf_serving_entrypoint.sh"]
