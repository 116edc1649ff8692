"""Where a template's root filesystem is: the one question the orchestrator asks about templates.

For now a fixed mapping (the `base` template → the base rootfs); the template builder replaces
it with a catalog of built templates without the orchestrator changing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from corral.orchestrator.errors import TemplateNotFound


class TemplateCatalog(Protocol):
    def rootfs(self, template_id: str) -> Path:
        """The template's root filesystem; raises `TemplateNotFound`."""
        ...


class StaticTemplates:
    """Templates given at start (settings or constructor), checked on every lookup so that a
    rootfs removed or not yet built is reported as a missing template, not a driver failure."""

    def __init__(self, templates: Mapping[str, Path]) -> None:
        self._templates = dict(templates)

    def rootfs(self, template_id: str) -> Path:
        path = self._templates.get(template_id)
        if path is None:
            raise TemplateNotFound(f"template {template_id!r} is not known on this node")
        if not path.is_dir():
            raise TemplateNotFound(f"template {template_id!r} has no root filesystem at {path}")
        return path
