"""envd: the daemon inside every sandbox, speaking E2B envd's protocol on port 49983.

It is one process per sandbox, so it imports only what it serves (see `main.py`) and keeps
no framework it does not need. Wire reference: shared/docs/e2b-wire-protocol.md, sections 3, 4, 6.
"""

ENVD_VERSION = "0.6.4"
"""Reported to the SDK through the control plane; every feature gated up to it works here."""

ENVD_PORT = 49983
