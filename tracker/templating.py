"""The Jinja2 environment every report template renders in (tracker/templates/), with its filters and the cache of
compiled templates kept between runs. Apart from reports.py so that commands that render no template (search,
show, export) start without Jinja2."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined

from .reports import clean_text, html_linked, md_escape, md_linked, record_url


class TemplateCache(FileSystemBytecodeCache):
    """Compiled templates kept between runs, keyed by the template's source, so an edited template recompiles.
    Compiling the digest templates was half of a first render (86 -> 37 ms at full scale). A cache never stops a
    report: any file error only means compiling again."""

    def load_bytecode(self, bucket: Any) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError):
            bucket.reset()

    def dump_bytecode(self, bucket: Any) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _template_cache() -> TemplateCache | None:
    """The user's cache directory ($XDG_CACHE_HOME, else ~/.cache, then tracker/templates, created 0700): it outlives
    a reboot, where the system's temp directory, Jinja's default, is often cleared at boot or after ten days, and a
    weekly digest would compile from source most weeks. Without a usable home, Jinja's own per-user directory in the
    temp dir (checked to be the user's); without either, compile every time."""
    try:
        directory = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tracker" / "templates"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return TemplateCache(directory=str(directory))
    except (OSError, RuntimeError):  # RuntimeError: Path.home() without a home
        pass
    try:
        return TemplateCache()
    except (OSError, RuntimeError):
        return None


def template_environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("tracker", "templates"),
        bytecode_cache=_template_cache(),
        autoescape=autoescape,  # by flag: select_autoescape would miss the .j2 suffix
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["clean"] = clean_text
    env.filters["record_url"] = record_url
    env.filters["linked"] = html_linked if autoescape else md_linked
    env.filters["line_title"] = lambda name, lines: next((l.title for l in lines if l.name == name), name)
    return env
