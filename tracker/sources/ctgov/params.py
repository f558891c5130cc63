"""The [ctgov] table of a topic line (and a claim check's ctgov table): its keys, and the Essie expressions checked
against ClinicalTrials.gov's own vocabulary before anything is sent."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from ...errors import ConfigError
from ...expressions import (
    SyntaxProblem,
    check_balanced,
    checked,
    flatten,
    outside_quotes,
    text_value,
)
from .vocabulary import AREA_NAMES, ENUM_AREAS, STATUSES

KEYS = (
    "query.cond",
    "query.intr",
    "query.term",
    "query.titles",
    "query.spons",
    "query.locn",
    "filter.advanced",
    "filter.overallStatus",
)
AREA_RE = re.compile(r"AREA\[([^\]]*)\]")


def _enum_values(text: str) -> list[tuple[str, int]]:
    """The values after AREA[Enum]: one word, or a parenthesised OR list, with their offsets."""
    if text.startswith("("):
        depth, end = 0, len(text)
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                end = i
                break
        inner = text[1:end]
        return [(m.group(0), m.start() + 1) for m in re.finditer(r"[A-Za-z_0-9]+", inner) if m.group(0).upper() not in ("OR", "AND", "NOT")]
    match = re.match(r'"?([A-Za-z_0-9]+)', text)
    return [(match.group(1), match.start(1))] if match else [("", 0)]


def check_ctgov_expression(text: str) -> None:
    """Balanced; every AREA[...] a search area or field the API knows; enum areas (Phase, StudyType, OverallStatus)
    followed by one of their values."""
    check_balanced(text)
    outside = outside_quotes(text)
    for match in AREA_RE.finditer(text):
        if not outside[match.start()]:
            continue
        name = match.group(1).strip()
        if name not in AREA_NAMES:
            lower = {n.lower(): n for n in AREA_NAMES}
            close = [lower[n] for n in difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.75)]
            raise SyntaxProblem(f"unknown search area AREA[{name}]", match.start() + 1,
                                f"did you mean {' or '.join(close)}?" if close else "use a ClinicalTrials.gov search area or field name, e.g. AREA[Phase]")
        if name in ENUM_AREAS:
            rest = text[match.end():]
            for value, offset in _enum_values(rest):
                if value.upper() not in ENUM_AREAS[name]:
                    raise SyntaxProblem(f"AREA[{name}] does not take {value or 'an empty value'!r}", match.end() + offset + 1,
                                        f"one of {', '.join(ENUM_AREAS[name])}")



def parse_table(path: Path, where: str, table: Any) -> dict[str, str]:
    """ClinicalTrials.gov search parameters of a topic line or a claim check, validated; a status list becomes the
    comma-separated form the API takes. `where` names the table in messages."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    params = {}
    for key, value in flatten(table).items():
        if key not in KEYS:
            raise ConfigError(f"{path}: {where} unknown parameter {key!r} (allowed: {', '.join(KEYS)})")
        if key == "filter.overallStatus" and isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: {where} 'filter.overallStatus' must list strings")
            value = ",".join(value)
        params[key] = text_value(path, f"ctgov.{key}", value)
        if key == "filter.overallStatus":
            for number, status in enumerate(re.split(r"[,|]", params[key]), 1):
                if status.strip() not in STATUSES:
                    raise ConfigError(f"{path}: ctgov.filter.overallStatus: unknown status {status.strip()!r} at item {number} "
                                      f"(hint: one of {', '.join(STATUSES)})")
        else:
            checked(path, f"ctgov.{key}", params[key], check_ctgov_expression)
    if not any(k.startswith("query.") for k in params):
        raise ConfigError(f"{path}: {where} needs at least one query.* parameter")
    return params


SITE_FIELDS = {"query.cond": "cond", "query.intr": "intr", "query.titles": "titles", "query.spons": "spons", "query.locn": "locStr"}


def website_search(params: dict[str, Any]) -> str:
    """The line's search on clinicaltrials.gov's own site, for people: the same fields, the API's filters folded into
    "Other terms" (the site reads Essie expressions there, as query.term does)."""
    query = {SITE_FIELDS[k]: v for k, v in params.items() if k in SITE_FIELDS}
    terms = [params[k] for k in ("query.term", "filter.advanced") if params.get(k)]
    if params.get("filter.overallStatus"):
        terms.append("AREA[OverallStatus](" + " OR ".join(s.strip() for s in re.split(r"[,|]", params["filter.overallStatus"])) + ")")
    if terms:
        query["term"] = " AND ".join(f"({t})" for t in terms) if len(terms) > 1 else terms[0]
    return "https://clinicaltrials.gov/search?" + urlencode(query, quote_via=quote)
