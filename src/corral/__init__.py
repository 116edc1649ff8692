"""Corral: self-hostable sandboxes for untrusted code, speaking E2B's protocols."""

__version__ = "0.1.0"
