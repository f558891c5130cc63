"""The services the tracker reads, one module each (fetch_* = network, parse_* = pure); none touches the store.
SOURCES lists them in update order."""

from .base import Batch, Source
from .ctgov import SOURCE as CTGOV
from .pubmed import SOURCE as PUBMED

SOURCES: dict[str, Source] = {s.name: s for s in (CTGOV, PUBMED)}

__all__ = ["Batch", "Source", "SOURCES", "CTGOV", "PUBMED"]
