"""Claims register (placeholder until the claims issue lands): verdict flips for the digest."""

from __future__ import annotations

from typing import Any

from .store import Store


def select_claim_flips(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    return []
