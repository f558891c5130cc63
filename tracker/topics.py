"""Topic lines (queries/*.toml) and the editors' claims file (queries/claims.toml): load and validate them, naming
the file and the key of every problem. Nothing here touches the network or the database."""

from __future__ import annotations

import difflib
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any, Callable, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError
from .models import Check, Claim, Query
from .vocabulary import AREA_NAMES, ENUM_AREAS, PUBMED_TAGS, STATUSES

CTGOV_KEYS = (
    "query.cond",
    "query.intr",
    "query.term",
    "query.titles",
    "query.spons",
    "query.locn",
    "filter.advanced",
    "filter.overallStatus",
)
QUERY_KEYS = {"name", "title", "description", "ctgov", "pubmed"}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


VERDICTS = ("CURRENT", "REVIEW", "OUTDATED")  # in rising order of severity
CHECK_KINDS = {  # the keys each kind of claim check takes; its other rules are in _CHECK_RULES
    "count": {"kind", "ctgov", "minimum", "understated_above"},
    "none_exists": {"kind", "line", "ctgov", "any_of", "require_terms", "exclude_terms", "context_terms", "match_title", "on_match"},
    "citation": {"kind", "pmid", "stated_journal", "stated_date", "stated_title"},
    "newer_evidence": {"kind", "line", "pubmed_term", "types", "journals", "verdict_if_found"},
}
CRITERIA_KEYS = {"statuses", "phases", "has_results", "min_enrollment"}
CLAIM_KEYS = {"id", "wording", "where", "as_of", "check"}



# -- topic lines ---------------------------------------------------------------------------------

def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict, or a ConfigError naming the file and the problem."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`query.cond = ...` in TOML is a nested table; accept it and the quoted "query.cond" alike."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def _text(path: Path, key: str, value: Any, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise ConfigError(f"{path}: missing required key {key!r}")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key!r} must be a string, not {type(value).__name__}")
    if required and not value.strip():
        raise ConfigError(f"{path}: {key!r} is empty")
    return value.strip()


# -- the syntax of search expressions -------------------------------------------------------------

TAG_RE = re.compile(r"\[([^\[\]]*)\]")
AREA_RE = re.compile(r"AREA\[([^\]]*)\]")
PROXIMITY_RE = re.compile(r":~\d+$")


class SyntaxProblem(Exception):
    def __init__(self, problem: str, position: int, hint: str) -> None:
        super().__init__(problem)
        self.problem, self.position, self.hint = problem, position, hint


def _outside_quotes(text: str) -> list[bool]:
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


def check_pubmed_term(term: str) -> None:
    """Balanced, and every [field tag] one PubMed knows (README: the accepted tags)."""
    check_balanced(term)
    outside = _outside_quotes(term)
    for match in TAG_RE.finditer(term):
        if not outside[match.start()]:
            continue
        tag = PROXIMITY_RE.sub("", match.group(1).strip().lower())
        if tag not in PUBMED_TAGS:
            raise SyntaxProblem(f"unknown PubMed field tag [{match.group(1)}]", match.start() + 1,
                                "use a documented tag such as [tiab], [ti], [MeSH], [Majr], [pt], [ta], [au], [dp]")


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
    outside = _outside_quotes(text)
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


def _checked(path: Path, key: str, text: str, check: Callable[[str], None]) -> str:
    try:
        check(text)
    except SyntaxProblem as exc:
        shown = text if len(text) <= 80 else "…" + text[max(0, exc.position - 40): exc.position + 40] + "…"
        raise ConfigError(f"{path}: {key}: {exc.problem} at position {exc.position} in {shown!r} (hint: {exc.hint})") from None
    return text


def parse_ctgov(path: Path, where: str, table: Any) -> dict[str, str]:
    """ClinicalTrials.gov search parameters of a topic line or a claim check, validated; a status list becomes the
    comma-separated form the API takes. `where` names the table in messages."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    params = {}
    for key, value in _flatten(table).items():
        if key not in CTGOV_KEYS:
            raise ConfigError(f"{path}: {where} unknown parameter {key!r} (allowed: {', '.join(CTGOV_KEYS)})")
        if key == "filter.overallStatus" and isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: {where} 'filter.overallStatus' must list strings")
            value = ",".join(value)
        params[key] = _text(path, f"ctgov.{key}", value)
        if key == "filter.overallStatus":
            for number, status in enumerate(re.split(r"[,|]", params[key]), 1):
                if status.strip() not in STATUSES:
                    raise ConfigError(f"{path}: ctgov.filter.overallStatus: unknown status {status.strip()!r} at item {number} "
                                      f"(hint: one of {', '.join(STATUSES)})")
        else:
            _checked(path, f"ctgov.{key}", params[key], check_ctgov_expression)
    if not any(k.startswith("query.") for k in params):
        raise ConfigError(f"{path}: {where} needs at least one query.* parameter")
    return params


def parse_query(path: Path, data: dict[str, Any]) -> Query:
    unknown = sorted(set(data) - QUERY_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(QUERY_KEYS))})")
    name = _text(path, "name", data.get("name"))
    if not NAME_RE.match(name):
        raise ConfigError(f"{path}: name {name!r} must be lower-case letters, digits, '-' or '_' (at most 64)")
    title = _text(path, "title", data.get("title"))
    description = _text(path, "description", data.get("description"), required=False) or ""

    ctgov = parse_ctgov(path, "[ctgov]", data["ctgov"]) if "ctgov" in data else None

    pubmed_term = None
    if "pubmed" in data:
        if not isinstance(data["pubmed"], dict):
            raise ConfigError(f"{path}: [pubmed] must be a table")
        extra = sorted(set(data["pubmed"]) - {"term"})
        if extra:
            raise ConfigError(f"{path}: [pubmed] unknown key {extra[0]!r} (allowed: term)")
        pubmed_term = _checked(path, "pubmed.term", _text(path, "pubmed.term", data["pubmed"].get("term")), check_pubmed_term)

    if ctgov is None and pubmed_term is None:
        raise ConfigError(f"{path}: needs a [ctgov] table, a [pubmed] table, or both")
    return Query(name=name, title=title, description=description, ctgov=ctgov, pubmed_term=pubmed_term, path=str(path))


def load_queries(directory: Path) -> list[Query]:
    """Every topic line in directory/*.toml (claims.toml excepted), validated; any problem raises ConfigError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"query directory {directory} does not exist")
    queries: list[Query] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.name == "claims.toml":
            continue
        query = parse_query(path, read_toml(path))
        if query.name in seen:
            raise ConfigError(f"{path}: name {query.name!r} is already used by {seen[query.name]}")
        seen[query.name] = str(path)
        queries.append(query)
    if not queries:
        raise ConfigError(f"no topic lines (*.toml) in {directory}")
    return queries


T = TypeVar("T")


def pick(items: list[T], names: tuple[str, ...] | list[str], *, key: Callable[[T], str], what: str) -> list[T]:
    """The items named, in the order named (all when none are); an unknown name is a ConfigError listing the known."""
    if not names:
        return items
    known = {key(item): item for item in items}
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(f"unknown {what} {missing[0]!r} (known: {', '.join(known)})")
    return [known[n] for n in names]


def select_queries(queries: list[Query], names: tuple[str, ...] | list[str]) -> list[Query]:
    return pick(queries, names, key=lambda q: q.name, what="topic line")


# -- the claims file ---------------------------------------------------------------------------------------

def _fail(path: Path, where: str, problem: str) -> ConfigError:
    return ConfigError(f"{path}: {where}: {problem}")


def _expect(path: Path, where: str, key: str, value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):  # TOML true is not an integer
        raise _fail(path, where, f"{key!r} must be {name}, not {type(value).__name__}")
    return value


def _strings(path: Path, where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, where, f"{key!r} must be a list of non-empty strings")
    return tuple(value)


def parse_check(path: Path, where: str, raw: Any) -> Check:
    """One [[claim.check]] table, validated by its kind's own rules below."""
    if not isinstance(raw, dict):
        raise _fail(path, where, "each [[claim.check]] must be a table")
    kind = raw.get("kind")
    if kind not in CHECK_KINDS:
        raise _fail(path, where, f"check kind {kind!r} is not one of {', '.join(CHECK_KINDS)}")
    unknown = sorted(set(raw) - CHECK_KINDS[kind])
    if unknown:
        raise _fail(path, where, f"unknown key {unknown[0]!r} for a {kind} check")
    params = dict(raw)
    _CHECK_RULES[kind](path, where, raw, params)
    return Check(kind=kind, params=params)


def _count_check(path: Path, where: str, raw: dict[str, Any], params: dict[str, Any]) -> None:
    if "ctgov" not in raw:
        raise _fail(path, where, "a count check needs a 'ctgov' table of query parameters")
    params["ctgov"] = parse_ctgov(path, f"{where}: ctgov", raw["ctgov"])
    _expect(path, where, "minimum", raw.get("minimum"), int, "an integer")
    if "understated_above" in raw:
        _expect(path, where, "understated_above", raw["understated_above"], int, "an integer")


def _none_exists_check(path: Path, where: str, raw: dict[str, Any], params: dict[str, Any]) -> None:
    if not raw.get("line") and not raw.get("ctgov"):
        raise _fail(path, where, "a none_exists check needs a 'line' (stored) or a 'ctgov' query (live), or both")
    if "line" in raw:
        _expect(path, where, "line", raw["line"], str, "a topic-line name")
    if "ctgov" in raw:
        params["ctgov"] = parse_ctgov(path, f"{where}: ctgov", raw["ctgov"])
    alternatives = raw.get("any_of", [{}])
    if not isinstance(alternatives, list) or not all(isinstance(a, dict) for a in alternatives):
        raise _fail(path, where, "'any_of' must be a list of tables")
    for alt in alternatives:
        extra = sorted(set(alt) - CRITERIA_KEYS)
        if extra:
            raise _fail(path, where, f"unknown key {extra[0]!r} in any_of (allowed: {', '.join(sorted(CRITERIA_KEYS))})")
        for key in ("statuses", "phases"):
            if key in alt:
                _strings(path, where, key, alt[key])
        if "has_results" in alt:
            _expect(path, where, "has_results", alt["has_results"], bool, "true or false")
        if "min_enrollment" in alt:
            _expect(path, where, "min_enrollment", alt["min_enrollment"], int, "an integer")
    params["any_of"] = alternatives
    for key in ("require_terms", "exclude_terms", "context_terms"):
        if key in raw:
            terms = _strings(path, where, key, raw[key])
            for term in terms:
                try:
                    re.compile(term)
                except re.error as exc:
                    raise _fail(path, where, f"{key} term {term!r} is not a valid pattern: {exc}") from None
    if raw.get("on_match", "OUTDATED") not in ("OUTDATED", "REVIEW"):
        raise _fail(path, where, "'on_match' must be OUTDATED or REVIEW")


def _citation_check(path: Path, where: str, raw: dict[str, Any], params: dict[str, Any]) -> None:
    pmid = _expect(path, where, "pmid", raw.get("pmid"), str, "a string of digits")
    if not pmid.isdigit():
        raise _fail(path, where, f"pmid {pmid!r} is not a PMID")
    _expect(path, where, "stated_journal", raw.get("stated_journal"), str, "a string")
    stated = _expect(path, where, "stated_date", raw.get("stated_date"), str, "a YYYY or YYYY-MM string")
    if not re.fullmatch(r"\d{4}(-\d{2})?", stated):
        raise _fail(path, where, f"stated_date {stated!r} must be YYYY or YYYY-MM")


def _newer_evidence_check(path: Path, where: str, raw: dict[str, Any], params: dict[str, Any]) -> None:
    if not raw.get("line") and not raw.get("pubmed_term"):
        raise _fail(path, where, "a newer_evidence check needs a 'line' (stored) or a 'pubmed_term' (live)")
    if "pubmed_term" in raw:
        term = _expect(path, where, "pubmed_term", raw["pubmed_term"], str, "a string")
        _checked(path, f"{where}: pubmed_term", term, check_pubmed_term)
    for key in ("types", "journals"):
        if key in raw:
            _strings(path, where, key, raw[key])
    if raw.get("verdict_if_found", "REVIEW") not in VERDICTS:
        raise _fail(path, where, f"'verdict_if_found' must be one of {', '.join(VERDICTS)}")


# each check kind's validation: raises on the first problem, normalises params (parsed CT.gov queries, any_of) in place
_CHECK_RULES = {"count": _count_check, "none_exists": _none_exists_check, "citation": _citation_check, "newer_evidence": _newer_evidence_check}


def load_claims(path: Path) -> list[Claim]:
    data = read_toml(path)
    extra = sorted(set(data) - {"claim"})
    if extra:
        raise ConfigError(f"{path}: unknown top-level key {extra[0]!r} (claims are [[claim]] tables)")
    raw_claims = data.get("claim")
    if not isinstance(raw_claims, list) or not raw_claims:
        raise ConfigError(f"{path}: no [[claim]] tables")
    claims, seen = [], set()
    for index, raw in enumerate(raw_claims, 1):
        where = f"claim {raw.get('id', f'#{index}') if isinstance(raw, dict) else f'#{index}'}"
        if not isinstance(raw, dict):
            raise _fail(path, where, "must be a table")
        unknown = sorted(set(raw) - CLAIM_KEYS)
        if unknown:
            raise _fail(path, where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(CLAIM_KEYS))})")
        for key in ("id", "wording", "where", "as_of"):
            value = raw.get(key)
            if key == "as_of" and isinstance(value, date):
                value = raw[key] = value.isoformat()
            if not isinstance(value, str) or not value.strip():
                raise _fail(path, where, f"missing or empty {key!r}")
        try:
            date.fromisoformat(raw["as_of"])
        except ValueError:
            raise _fail(path, where, f"as_of {raw['as_of']!r} is not a date (YYYY-MM-DD)") from None
        if raw["id"] in seen:
            raise _fail(path, where, "id is used twice")
        seen.add(raw["id"])
        checks = raw.get("check")
        if not isinstance(checks, list) or not checks:
            raise _fail(path, where, "needs at least one [[claim.check]]")
        claims.append(
            Claim(id=raw["id"], wording=raw["wording"].strip(), where=raw["where"].strip(), as_of=raw["as_of"],
                  checks=tuple(parse_check(path, where, c) for c in checks))
        )
    return claims


def select_claims(claims: list[Claim], ids: tuple[str, ...]) -> list[Claim]:
    return pick(claims, ids, key=lambda c: c.id, what="claim")
