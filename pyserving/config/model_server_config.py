"""Parse TF Serving's ModelServerConfig text proto (protobuf text_format) into ModelConfig."""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Any

from pyserving.backends import BUILTIN_PLATFORMS, detect_platform
from pyserving.config.settings import ServerSettings
from pyserving.core.errors import InvalidArgumentError
from pyserving.serving.model_config import ModelConfig
from pyserving.sources.version_policy import VersionPolicy

logger = logging.getLogger("pyserving.config")

_MODEL_TYPE_TENSORFLOW = 1  # ModelType.TENSORFLOW (deprecated field)


def parse_model_server_config(text: str, source: str = "<text>") -> Any:
    """Text -> ModelServerConfig proto, or TF Serving's parse error."""
    from pyserving.config._proto import parse_text
    from pyserving.protos.tensorflow_serving.config import model_server_config_pb2

    return parse_text(model_server_config_pb2.ModelServerConfig(), text, source)


def read_model_config_file(path: str) -> list[ModelConfig]:
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as exc:
        raise InvalidArgumentError(f"Failed to read ModelServerConfig file: {path}: {exc}") from None
    return models_from_proto(parse_model_server_config(text, path))


def models_from_settings(settings: ServerSettings) -> list[ModelConfig]:
    """``--model_config_file``'s models, or the one of ``--model_name`` and ``--model_base_path``."""
    if settings.model_config_file:
        return read_model_config_file(settings.model_config_file)
    # TF Serving's single-model mode is "tensorflow"; a folder of another platform says so.
    platform = platform_of(settings.model_name, settings.model_base_path, default="tensorflow")
    return [ModelConfig(name=settings.model_name, base_path=settings.model_base_path, model_platform=platform)]


def models_from_proto(message: Any) -> list[ModelConfig]:
    kind = message.WhichOneof("config")
    if kind is None:
        return []
    if kind != "model_config_list":
        raise InvalidArgumentError("ModelServer does not yet support custom model config.")
    return [_model(config) for config in message.model_config_list.config]


def _model(config: Any) -> ModelConfig:
    platform = config.model_platform
    if config.model_type and platform:
        raise InvalidArgumentError(
            "Illegal setting both ModelServerConfig::model_type (deprecated) and "
            f"ModelServerConfig::model_platform, model name is {config.name}"
        )
    if not platform:
        if config.model_type == _MODEL_TYPE_TENSORFLOW:
            logger.warning("ModelServerConfig::model_type is deprecated; use model_platform")
            platform = "tensorflow"
        else:
            platform = platform_of(config.name, config.base_path)
    if config.HasField("logging_config"):
        logger.warning("logging_config of model %s is not supported and is ignored", config.name)
    return ModelConfig(
        name=config.name,
        base_path=config.base_path,
        model_platform=platform,
        version_policy=_policy(config.model_version_policy),
        version_labels=MappingProxyType(dict(config.version_labels)),
    )


def platform_of(name: str, base_path: str, default: str | None = None) -> str:
    """The platform a model's newest version folder holds, said in the log; ``default`` or TF
    Serving's error (with a hint) when no version folder tells."""
    detected = detect_platform(base_path)
    if detected is not None:
        platform, marker = detected
        logger.info("Model %s has no model_platform: serving it as %r (found %s)", name, platform, marker)
        return platform
    if default is not None:
        return default
    raise InvalidArgumentError(
        "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
        f"ModelServerConfig::model_platform, model name is {name} (no version folder under {base_path} "
        f"shows the platform yet: set model_platform to one of {', '.join(sorted(BUILTIN_PLATFORMS))})"
    )


def _policy(policy: Any) -> VersionPolicy:
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return VersionPolicy("all")
    if choice == "specific":
        return VersionPolicy("specific", versions=tuple(policy.specific.versions))
    if choice == "latest":
        return VersionPolicy("latest", num_versions=max(1, policy.latest.num_versions))
    return VersionPolicy()


def models_to_proto(models: list[ModelConfig]) -> Any:
    """The effective config as a ModelServerConfig proto (for reading it back)."""
    from pyserving.protos.tensorflow_serving.config import model_server_config_pb2

    message = model_server_config_pb2.ModelServerConfig()
    entries = message.model_config_list.config
    for model in models:
        entry = entries.add(name=model.name, base_path=model.base_path, model_platform=model.model_platform)
        policy = model.version_policy
        if policy.kind == "all":
            entry.model_version_policy.all.SetInParent()
        elif policy.kind == "specific":
            entry.model_version_policy.specific.versions.extend(policy.versions)
        else:
            entry.model_version_policy.latest.num_versions = policy.num_versions
        for label, version in sorted(model.version_labels.items()):
            entry.version_labels[label] = version
    return message
