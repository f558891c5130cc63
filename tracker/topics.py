"""Topic lines (queries/*.toml) and the editors' claims file (queries/claims.toml): load and validate them, naming
the file and the key of every problem. Nothing here touches the network or the database."""

from __future__ import annotations

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
from .identifiers import normalise
from .expressions import text_value
from .models import Check, Claim, Query
from .sources import SOURCES

SHORT_MAX = 40  # "Also in: AGA cell therapy; HFSC ageing" stays one line
LINE_KEYS = {"name", "title", "short", "description", "cites"}  # beside them, one table per source
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
            data = fh.read()
        # an editor's byte-order mark (Notepad writes one) is no TOML; a file that is not UTF-8 is named as such
        return tomllib.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None


def parse_query(path: Path, data: dict[str, Any]) -> Query:
    """One topic line: its name, title and description, and one table per source it asks (each validated by its
    source). A table no source declares is refused naming the tables allowed."""
    tables = ", ".join(f"[{name}]" for name, source in SOURCES.items() if source.fetch)  # the sources a line can ask
    for key, value in data.items():
        if key in LINE_KEYS or key in SOURCES:
            continue
        if isinstance(value, dict):
            raise ConfigError(f"{path}: unknown table [{key}] (tables allowed: {tables})")
        raise ConfigError(f"{path}: unknown key {key!r} (allowed: {', '.join(sorted(LINE_KEYS))}, and the tables {tables})")
    name = text_value(path, "name", data.get("name"))
    if not NAME_RE.match(name):
        raise ConfigError(f"{path}: name {name!r} must be lower-case letters, digits, '-' or '_' (at most 64)")
    title = text_value(path, "title", data.get("title"))
    description = text_value(path, "description", data.get("description"), required=False) or ""
    short = text_value(path, "short", data.get("short"), required=False) or name
    if len(short) > SHORT_MAX:
        raise ConfigError(f"{path}: short {short!r} is {len(short)} characters; a short name is at most {SHORT_MAX}")
    params = {source.name: source.parse_table(path, f"[{source.name}]", data[source.name]) for source in SOURCES.values() if source.name in data}
    cites = parse_cites(path, data.get("cites"))
    if not params and not cites:
        raise ConfigError(f"{path}: needs at least one source table ({tables}) or anchor papers (cites = [...])")
    return Query(name=name, title=title, description=description, params=params, path=str(path), cites=cites, short=short)


def parse_cites(path: Path, value: Any) -> tuple[str, ...]:
    """A line's anchor papers: bare digits are PMIDs, `doi:...` a DOI (resolved to its PMID at run time); kept as
    "pmid:..." and "doi:..." (the DOI lower-cased)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: cites must be a list of PMIDs and \"doi:...\" strings")
    found = []
    for item in value:
        text = item.strip()
        if text.isdigit() and normalise("pmid", text):
            found.append(f"pmid:{normalise('pmid', text)}")
        elif text.lower().startswith("doi:") and normalise("doi", text):
            found.append(f"doi:{normalise('doi', text)}")
        else:
            raise ConfigError(f"{path}: cites: {item!r} is neither a PMID (digits) nor a DOI written doi:10.xxxx/...")
    return tuple(dict.fromkeys(found))


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
    params["ctgov"] = SOURCES["ctgov"].parse_table(path, f"{where}: ctgov", raw["ctgov"])
    _expect(path, where, "minimum", raw.get("minimum"), int, "an integer")
    if "understated_above" in raw:
        _expect(path, where, "understated_above", raw["understated_above"], int, "an integer")


def _none_exists_check(path: Path, where: str, raw: dict[str, Any], params: dict[str, Any]) -> None:
    if not raw.get("line") and not raw.get("ctgov"):
        raise _fail(path, where, "a none_exists check needs a 'line' (stored) or a 'ctgov' query (live), or both")
    if "line" in raw:
        _expect(path, where, "line", raw["line"], str, "a topic-line name")
    if "ctgov" in raw:
        params["ctgov"] = SOURCES["ctgov"].parse_table(path, f"{where}: ctgov", raw["ctgov"])
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
        SOURCES["pubmed"].parse_table(path, f"{where}: pubmed_term", {"term": term})
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
