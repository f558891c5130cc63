"""The shared report toolbox: the Jinja2 environment for every template, text cleaning and Markdown escaping, and
whole-file writes through a temporary file. Used by the digest and the claims report; renders nothing itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from .errors import TrackerError

CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def clean_text(value: Any) -> str:
    """Control characters are dropped: they are invalid in XML and mean nothing to a reader."""
    return CONTROL_RE.sub("", "" if value is None else str(value))


MD_SPECIAL = re.compile(r"([\\`*_\[\]<#|])")  # "<" stops raw HTML; ">" only matters at line start


def md_escape(value: Any) -> str:
    return MD_SPECIAL.sub(r"\\\1", " ".join(clean_text(value).split()))


def record_url(record_id: str) -> str:
    """The public page of a record: ClinicalTrials.gov for an NCT number, PubMed for a PMID."""
    if record_id.upper().startswith("NCT"):
        return f"https://clinicaltrials.gov/study/{record_id}"
    return f"https://pubmed.ncbi.nlm.nih.gov/{record_id}/"


def template_environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("tracker", "templates"),
        autoescape=autoescape,  # by flag: select_autoescape would miss the .j2 suffix
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["clean"] = clean_text
    env.filters["record_url"] = record_url
    env.filters["line_title"] = lambda name, lines: next((l.title for l in lines if l.name == name), name)
    return env


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a whole file through a temporary one, so a reader never sees half a report."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise TrackerError(f"cannot write {path}: {exc.strerror}") from None
    return path
