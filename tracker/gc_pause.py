"""gc_paused(): the cyclic garbage collector paused while a batch or page is parsed, and by an update for its whole
line (so a page's objects die before any pass walks them). Parsing builds many young, acyclic objects; the
collector's generation-0 passes over them cost as much as the build itself. Reference counting still frees
everything; the collector is re-enabled (if it was on) even when parsing fails; nested pauses leave it to the
outermost."""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
