"""Unpadded base64url (RFC 4648 section 5), the only binary-to-text form on the wire."""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["b64decode", "b64encode"]

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64encode(data: bytes) -> str:
    """Unpadded base64url text of `data`."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Bytes of unpadded base64url `text`; ValueError if it is anything else."""
    # urlsafe_b64decode silently skips characters outside the alphabet; refuse them instead.
    if not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not unpadded base64url") from None
    # Non-zero trailing bits would give a second spelling of the same bytes.
    if b64encode(data) != text:
        raise ValueError("not canonical base64url (non-zero trailing bits)")
    return data
