"""What every source's parser and row function share: reading a nested JSON answer (dig, listed), a list column as
JSON text (byte for byte what the store has always written) and the raw payload's fingerprint. Pure."""

from __future__ import annotations

import json
from typing import Any

import xxhash

from ..models import as_plain


def dig(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]..., None as soon as a step is not an object (any part of an answer may be absent)."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def listed(value: Any) -> list[Any]:
    """A list field, or an empty list when it is missing or not a list (the record is kept, the field read as empty)."""
    return value if isinstance(value, list) else []


def raw_hash(text: str) -> str:
    """The raw payload's fingerprint: an unchanged hash is an unchanged record, so it is not rewritten. xxh3-128, a
    non-cryptographic hash at memory speed (m014 says why it replaced blake2b); nothing here is adversarial."""
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))


_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # one encoder: json.dumps(..., ensure_ascii=False) builds one per call
_STRING = json.encoder.encode_basestring  # one JSON string literal, in C: what the encoder writes for each str item


def json_text(value: Any) -> str:
    """A list column as JSON text, byte for byte what _ENCODE writes. The common case, a tuple of names, is joined
    from C-encoded string literals without the encoder's per-call set-up."""
    if type(value) is tuple:
        try:
            return "[" + ", ".join(map(_STRING, value)) + "]"
        except TypeError:  # an item that is not a string (a Reference, a Correction)
            pass
    return _ENCODE(as_plain(value))
