"""gc_paused(): the cyclic garbage collector paused while a batch or page is parsed, and by an update for its whole
line (so a page's objects die before any pass walks them). Parsing builds many young, acyclic objects; the
collector's generation-0 passes over them cost as much as the build itself. Reference counting still frees
everything; the collector is re-enabled (if it was on) even when parsing fails, once the last pause open in any
thread ends."""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

_LOCK = threading.Lock()
_held = 0  # pauses open in any thread (an update's services are fetched on threads of their own)
_resume = False  # whether the collector was on when the first of them began


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    global _held, _resume
    with _LOCK:
        if _held == 0:
            _resume = gc.isenabled()
            gc.disable()
        _held += 1
    try:
        yield
    finally:
        with _LOCK:
            _held -= 1
            if _held == 0 and _resume:
                gc.enable()
