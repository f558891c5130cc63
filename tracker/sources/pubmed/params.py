"""The [pubmed] table of a topic line: its one key, term, checked against PubMed's documented field tags before
anything is sent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ...expressions import SyntaxProblem, check_balanced, outside_quotes, search_table
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
    return {"term": search_table(path, where, table, "term", check_pubmed_term, source="pubmed")}
