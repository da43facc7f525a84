"""TF Serving's flag syntax: ``--name=value``, booleans as ``--name`` or ``--name=true|false``.

``--name value`` is accepted too for non-boolean flags. Unknown flags are an
error (TF Serving warns and starts anyway, which hides typos).
"""

from __future__ import annotations

import difflib
from dataclasses import MISSING
from typing import Any

from pyserving.config.settings import ServerSettings, setting_fields


class FlagError(ValueError):
    pass


def _parse_value(name: str, kind: str, text: str) -> Any:
    if kind == "bool":
        if text == "true":
            return True
        if text == "false":
            return False
        raise FlagError(f"Illegal value '{text}' specified for bool flag '{name}'")
    if kind == "int":
        try:
            return int(text, 10)
        except ValueError:
            raise FlagError(f"Illegal value '{text}' specified for int flag '{name}'") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise FlagError(f"Illegal value '{text}' specified for float flag '{name}'") from None
    return text


def parse_flags(argv: list[str], defaults: dict[str, Any] | None = None) -> tuple[ServerSettings, set[str]]:
    """Returns the settings and the names of the flags given explicitly."""
    known = setting_fields()
    values: dict[str, Any] = dict(defaults or {})
    given: set[str] = set()
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("-") or arg in ("-", "--"):
            raise FlagError(f"unknown argument: {arg}")
        name, has_value, text = arg.lstrip("-").partition("=")
        spec = known.get(name)
        if spec is None:
            raise FlagError(f"unknown argument: {arg}{_did_you_mean(name)}")
        kind = spec.type if isinstance(spec.type, str) else spec.type.__name__
        if not has_value:
            if kind == "bool":
                text = "true"
            elif args:
                text = args.pop(0)
            else:
                raise FlagError(f"flag --{name} needs a value")
        values[name] = _parse_value(name, kind, text)  # the last occurrence wins
        if spec.metadata.get("status") == "unsupported" and values[name] != spec.default:
            raise FlagError(f"--{name} is not supported by this version of pyserving")
        given.add(name)
    settings = ServerSettings(**values)
    return settings, given


def _did_you_mean(name: str) -> str:
    """Why: a typo'd flag is the most common startup error; name the flag that was meant."""
    close = difflib.get_close_matches(name, list(setting_fields()), n=1, cutoff=0.75)
    return f" (did you mean --{close[0]}?)" if close else ""


def short_usage(program: str) -> str:
    """One line, printed above a flag error, so that the error itself stays on screen."""
    return f"usage: {program} [--flag=value ...]  (`{program} --help` lists every flag and its default)"


def usage(program: str = "tensorflow_model_server", defaults: dict[str, Any] | None = None, intro: str = "") -> str:
    """Every flag with the default ``program`` applies (``defaults`` override the fields')."""
    lines = [f"usage: {program} [--flag=value ...]"]
    if intro:
        lines.append(intro)
    lines.append("Flags:")
    for name, spec in setting_fields().items():
        default = spec.default if spec.default is not MISSING else ""
        if defaults and name in defaults:
            default = defaults[name]
        if isinstance(default, bool):
            default = "true" if default else "false"  # the flag syntax, as TF Serving prints it
        kind = spec.type if isinstance(spec.type, str) else spec.type.__name__
        note = {"ignored": " (accepted, ignored)", "unsupported": " (not supported)"}.get(
            spec.metadata.get("status", ""), ""
        )
        lines.append(f"\t--{name}={default!s}\t{kind}\t{spec.metadata.get('help', '')}{note}")
    return "\n".join(lines)
