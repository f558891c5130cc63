"""The [pubmed] table of a topic line: its one key, term, checked against PubMed's documented field tags before
anything is sent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...expressions import SyntaxProblem, check_balanced, checked, outside_quotes, text_value
from .vocabulary import PUBMED_TAGS

TAG_RE = re.compile(r"\[([^\[\]]*)\]")
PROXIMITY_RE = re.compile(r":~\d+$")


def check_pubmed_term(term: str) -> None:
    """Balanced, and every [field tag] one PubMed knows (README: the accepted tags)."""
    check_balanced(term)
    outside = outside_quotes(term)
    for match in TAG_RE.finditer(term):
        if not outside[match.start()]:
            continue
        tag = PROXIMITY_RE.sub("", match.group(1).strip().lower())
        if tag not in PUBMED_TAGS:
            raise SyntaxProblem(f"unknown PubMed field tag [{match.group(1)}]", match.start() + 1,
                                "use a documented tag such as [tiab], [ti], [MeSH], [Majr], [pt], [ta], [au], [dp]")




def parse_table(path: Path, where: str, table: Any) -> dict[str, str]:
    """A [pubmed] table, validated: {"term": ...}. `where` names the table in messages."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    extra = sorted(set(table) - {"term"})
    if extra:
        raise ConfigError(f"{path}: {where} unknown key {extra[0]!r} (allowed: term)")
    return {"term": checked(path, "pubmed.term", text_value(path, "pubmed.term", table.get("term")), check_pubmed_term)}
