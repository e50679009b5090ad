"""The digests that tie tokens to database rows: security-stamp tags and token hashes."""

from __future__ import annotations

import hashlib


def stamp_tag(stamp: str) -> str:
    """What tokens carry of the security stamp (the stamp itself stays in the database)."""
    return hashlib.sha256(stamp.encode()).hexdigest()[:16]


def token_hash(token: str) -> str:
    """What is stored of a refresh token: it is compared, never read back."""
    return hashlib.sha256(token.encode()).hexdigest()
