"""The services the tracker reads, one package each (fetch_* = network, parse_* = pure); none touches the store.
SOURCES is the one list of them, in update order: a new source is its folder and one line here.

The rest of the tracker asks this registry for what a source can do (SOURCES[name].presence, .count, .search,
its shape and id scheme) and never imports a particular source."""

from __future__ import annotations

from ..http import HttpClient
from ..settings import Settings
from .base import Batch, Count, Presence, ResultsDuty, Shape, Source
from .ctgov import SOURCE as _CTGOV
from .ctis import SOURCE as _CTIS
from .europepmc import SOURCE as _EUROPEPMC
from .ictrp import SOURCE as _ICTRP
from .isrctn import SOURCE as _ISRCTN
from .pubmed import SOURCE as _PUBMED

# in update order; among sources of one kind, the order of preference: a study registered in several registries is
# shown under its CT.gov record, else its CTIS one, else ISRCTN's, and an ICTRP export's copy last; a paper under
# its PubMed record, else Europe PMC's
SOURCES: dict[str, Source] = {s.name: s for s in (_CTGOV, _CTIS, _ISRCTN, _ICTRP, _PUBMED, _EUROPEPMC)}
TABLES: dict[str, Source] = {s.shape.table: s for s in SOURCES.values()}  # by the table its records are kept in


def of_kind(kind: str) -> list[Source]:
    """The sources of one kind of record (trial | publication), in registry order (the preferred first)."""
    return [s for s in SOURCES.values() if s.kind == kind]


def services(settings: Settings) -> dict[str, tuple[str, float]]:
    """Each source's base URLs -> (label, seconds between requests), for the HTTP client's pacing and messages."""
    return {base.rstrip("/"): (s.label, s.interval(settings) if s.interval else 0.0)
            for s in SOURCES.values() if s.base_url is not None
            for base in (s.base_url(settings), *(s.more_bases(settings) if s.more_bases else ()))}


def open_client(settings: Settings) -> HttpClient:
    """The one HTTP client, paced per service as each source declares."""
    return HttpClient(settings, services=services(settings))


__all__ = ["Batch", "Count", "Presence", "ResultsDuty", "SOURCES", "Shape", "Source", "TABLES", "of_kind", "open_client", "services"]
