"""WHO ICTRP portal exports as a source: the only way to registries with no API here (jRCT, UMIN, ChiCTR, IRCT, CTRI,
DRKS, ANZCTR, CRiS ...). There is no service to ask: `tracker import ictrp FILE` reads an export a user downloaded
(export.py), and its trials are kept as registrations in ictrp_trials, never in another registry's table."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ..base import Source
from .. import registry_signals
from ..registrations import registration_shape
from .export import ictrp_url, parse_export, registration_of, registry_of  # noqa: F401  (the package's entry points)


def parse_table(path: Path, where: str, table: Any) -> dict[str, Any]:
    raise ConfigError(f"{path}: {where}: WHO ICTRP has no query API; download the portal's XML export of your search "
                      "and run `tracker import ictrp FILE --line NAME`")


SOURCE = Source(
    name="ictrp",
    label="WHO ICTRP export",
    short_label="ICTRP",
    kind="trial",
    scheme="other",  # each record's own registry's: url_of reads it from the id
    shape=registration_shape("ictrp_trials"),
    overlap=timedelta(0),
    parse_table=parse_table,
    fetch=None,
    base_url=None,
    interval=None,
    url_of=ictrp_url,
    read_file=parse_export,
    registry_of=registry_of,
    signal_rules=registry_signals.rules,
    signal_resolution=registry_signals.resolution,
)
