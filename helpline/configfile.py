"""Read a YAML configuration file into a pydantic model, with errors a person can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_yaml_model(path: Path, model: type[M], error: type[Exception]) -> M:
    """Return the file as ``model``; raise ``error`` naming the file and the first bad field."""
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({exc})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a mapping of settings at the top")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise error(f"{path}: {field_path(first['loc']) or 'file'}: {message}{more}") from None


def field_path(loc: tuple[int | str, ...]) -> str:
    """Return a pydantic error location as ``tiers.first_line.shifts[2].start``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def known_zone(value: str) -> str:
    """Return ``value`` if it is an IANA time zone; raise ValueError otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


TimeZone = Annotated[str, AfterValidator(known_zone)]
