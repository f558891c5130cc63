"""What every service's search expressions share before they are sent (double quotes and parentheses pair up), and
how a problem in a topic-line or claims table is named: file, key, position and a hint. Pure; each source's own
table rules (its keys, field tags, enums) live in its folder and use these."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError


class SyntaxProblem(Exception):
    def __init__(self, problem: str, position: int, hint: str) -> None:
        super().__init__(problem)
        self.problem, self.position, self.hint = problem, position, hint


def outside_quotes(text: str) -> list[bool]:
    """For each character: is it outside a double-quoted phrase?"""
    flags, quoted = [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            flags.append(False)
        else:
            flags.append(not quoted)
    return flags


def check_balanced(text: str) -> None:
    """Parentheses and double quotes must pair up (parentheses inside a quoted phrase are text)."""
    opened: list[int] = []
    quote_at: int | None = None
    for i, ch in enumerate(text):
        if ch == '"':
            quote_at = None if quote_at is not None else i
        elif quote_at is None and ch == "(":
            opened.append(i)
        elif quote_at is None and ch == ")":
            if not opened:
                raise SyntaxProblem("a ')' closes nothing", i + 1, "remove it or add the '(' it closes")
            opened.pop()
    if quote_at is not None:
        raise SyntaxProblem('a double quote is never closed', quote_at + 1, 'close the phrase with a second "')
    if opened:
        raise SyntaxProblem("a '(' is never closed", opened[-1] + 1, "add the ')' that closes it")



def checked(path: Path, key: str, text: str, check: Callable[[str], None]) -> str:
    try:
        check(text)
    except SyntaxProblem as exc:
        shown = text if len(text) <= 80 else "…" + text[max(0, exc.position - 40): exc.position + 40] + "…"
        raise ConfigError(f"{path}: {key}: {exc.problem} at position {exc.position} in {shown!r} (hint: {exc.hint})") from None
    return text



def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`query.cond = ...` in TOML is a nested table; accept it and the quoted "query.cond" alike."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, full + "."))
        else:
            flat[full] = value
    return flat



def text_value(path: Path, key: str, value: Any, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise ConfigError(f"{path}: missing required key {key!r}")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key!r} must be a string, not {type(value).__name__}")
    if required and not value.strip():
        raise ConfigError(f"{path}: {key!r} is empty")
    return value.strip()


def search_table(path: Path, where: str, table: Any, key: str, check: Callable[[str], None], *, source: str,
                 needs: str | None = None) -> str:
    """A topic line's table that holds one search expression under `key` ([pubmed] term, [isrctn] q, [europepmc]
    query): a table, no other key, the expression text and checked by `check`. `needs` says what a missing or empty
    one should be ("an ISRCTN search (e.g. ...)"); without it, the key is simply required."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    extra = sorted(set(table) - {key})
    if extra:
        raise ConfigError(f"{path}: {where} unknown key {extra[0]!r} (allowed: {key})")
    value = table.get(key)
    if needs and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{path}: {where} needs {key}, {needs}")
    name = f"{source}.{key}"
    return checked(path, name, text_value(path, name, value), check)
