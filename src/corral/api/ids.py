"""Identifiers and secrets the control plane hands out."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits


def sandbox_id() -> str:
    """20 lowercase letters and digits, like E2B's (they end up in `{port}-{id}.{domain}`)."""
    return "i" + "".join(secrets.choice(_ALPHABET) for _ in range(19))


def envd_access_token() -> str:
    """The per-sandbox secret the SDK sends to envd as `X-Access-Token`."""
    return secrets.token_urlsafe(32)
