"""What a sandbox starts from: a template's root filesystem and how its envd is set up.

Two sources: templates given at start (`base` from settings: a bare root filesystem) and
templates this node built (`<templates_dir>/<build_id>/`, whose `template.json` is written
last, so a half-exported build is never found). Built templates are named by build id: a
rebuild is a new root filesystem, and sandboxes of the old build keep theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from corral.orchestrator.errors import TemplateNotFound
from corral.templates.images import BuiltTemplates, TemplateImage

__all__ = ["BuiltTemplates", "NodeTemplates", "StaticTemplates", "TemplateCatalog", "TemplateImage"]


class TemplateCatalog(Protocol):
    def image(self, template_id: str, build_id: str = "") -> TemplateImage:
        """The build if this node has it, else the template; raises `TemplateNotFound`."""
        ...


class StaticTemplates:
    """Templates given at start (settings or constructor), checked on every lookup so that a
    rootfs removed or not yet built is reported as a missing template, not a driver failure."""

    def __init__(self, templates: Mapping[str, Path]) -> None:
        self._templates = dict(templates)

    def rootfs(self, template_id: str) -> Path:
        return self.image(template_id).rootfs

    def image(self, template_id: str, build_id: str = "") -> TemplateImage:
        path = self._templates.get(template_id)
        if path is None:
            raise TemplateNotFound(f"template {template_id!r} is not known on this node")
        if not path.is_dir():
            raise TemplateNotFound(f"template {template_id!r} has no root filesystem at {path}")
        return TemplateImage(key=template_id, rootfs=path)


class NodeTemplates:
    """Built templates first (by build id), then the static ones (by template id)."""

    def __init__(self, static: StaticTemplates, built: BuiltTemplates) -> None:
        self.static = static
        self.built = built

    def rootfs(self, template_id: str) -> Path:
        return self.image(template_id).rootfs

    def image(self, template_id: str, build_id: str = "") -> TemplateImage:
        for ref in (build_id, template_id):
            found = self.built.find(ref)
            if found is not None:
                return found
        if not build_id:
            latest = self.built.latest(template_id)
            if latest is not None:
                return latest
        return self.static.image(template_id)
