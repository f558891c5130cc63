"""A topic line's [ctis] table: searchCriteria keys of the CTIS search, checked before any request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .vocabulary import SEARCH_KEYS, STATUS_CODES


def parse_table(path: Path, where: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path}: {where} needs at least one searchCriteria key (e.g. containAll = \"alopecia\")")
    criteria: dict[str, Any] = {}
    for key, value in table.items():
        if key not in SEARCH_KEYS:
            raise ConfigError(f"{path}: {where} has unknown key {key!r} (searchCriteria keys: {', '.join(sorted(SEARCH_KEYS))})")
        if key == "status":
            codes = value if isinstance(value, list) else [value]
            if not all(isinstance(c, int) and c in STATUS_CODES for c in codes):
                raise ConfigError(f"{path}: {where} status takes CTIS status codes 1-12 (8 = Ended), not {value!r}")
            criteria[key] = codes
        elif isinstance(value, (str, int, bool)) or (isinstance(value, list) and all(isinstance(v, (str, int)) for v in value)):
            if isinstance(value, str) and not value.strip():
                raise ConfigError(f"{path}: {where} {key} is empty")
            criteria[key] = value
        else:
            raise ConfigError(f"{path}: {where} {key} must be text, a number, true/false or a list of them")
    return criteria
