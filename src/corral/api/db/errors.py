"""What the store raises when a write cannot be done; reads answer None or False instead."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors."""


class ReferenceNotFound(StoreError):
    """The team, user, template or build a write refers to does not exist."""


class AlreadyExists(StoreError):
    """A unique name is taken: an email, a template alias, an id given by the caller."""
