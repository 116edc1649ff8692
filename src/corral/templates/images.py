"""Built templates on a node: `<templates_dir>/<build_id>/rootfs` and its manifest.

The manifest (`template.json`) is written last, atomically, so a half-exported build is never
found; it says how envd is set up for the template (env, default user and workdir) and which
start and ready commands every new sandbox of it runs.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

MANIFEST = "template.json"
SNAPSHOT = "snapshot"


def valid_build_id(build_id: str) -> bool:
    return bool(build_id) and "/" not in build_id and not build_id.startswith(".")


@dataclass(frozen=True)
class TemplateImage:
    key: str
    """What warm pools and lookups call it: the build id of a built template, else its id."""
    rootfs: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    start_cmd: str | None = None
    ready_cmd: str | None = None
    snapshot: Path | None = None
    """The template saved running and ready (start command up), where the runtime can."""
    snapshot_key: str | None = None
    """What the snapshot depends on (`Driver.snapshot_key`)."""


class BuiltTemplates:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, TemplateImage] = {}

    def find(self, build_id: str) -> TemplateImage | None:
        if not valid_build_id(build_id):
            return None
        cached = self._cache.get(build_id)
        if cached is not None:
            return cached
        manifest = self.directory / build_id / MANIFEST
        try:
            raw: dict[str, Any] = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return None
        image = TemplateImage(
            key=build_id,
            rootfs=self.directory / build_id / "rootfs",
            env=dict(raw.get("env") or {}),
            user=raw.get("user"),
            workdir=raw.get("workdir"),
            start_cmd=raw.get("start_cmd"),
            ready_cmd=raw.get("ready_cmd"),
        )
        snapshot = self.directory / build_id / SNAPSHOT
        if raw.get("snapshot_key") and snapshot.is_dir():
            image = replace(image, snapshot=snapshot, snapshot_key=raw["snapshot_key"])
        self._cache[build_id] = image
        return image

    def publish(self, image: TemplateImage, extra: Mapping[str, object] | None = None) -> None:
        """Make an exported build findable: its manifest, written atomically, last."""
        record = {k: v for k, v in asdict(image).items() if k not in ("key", "rootfs", "snapshot")}
        target = self.directory / image.key / MANIFEST
        partial = target.with_suffix(".part")
        partial.write_text(json.dumps({**record, **(extra or {})}, indent=1))
        os.replace(partial, target)

    def same_image(self, image_id: str, exclude: str = "") -> TemplateImage | None:
        """A published build made from exactly this image (a rebuild with every step cached)."""
        if not image_id:
            return None
        for build_id, raw, _ in self._manifests():
            if build_id != exclude and raw.get("image_id") == image_id:
                return self.find(build_id)
        return None

    def latest(self, template_id: str) -> TemplateImage | None:
        """The newest build of a template published here (a node start's warm pools use it
        before any create names a build)."""
        builds = [
            (stamp, b)
            for b, raw, stamp in self._manifests()
            if raw.get("template_id") == template_id
        ]
        return self.find(max(builds)[1]) if builds else None

    def _manifests(self) -> Iterator[tuple[str, dict[str, Any], float]]:
        """(build id, manifest, its mtime) of every published build here."""
        for manifest in self.directory.glob(f"*/{MANIFEST}"):
            try:
                raw = json.loads(manifest.read_text())
                stamp = manifest.stat().st_mtime
            except (OSError, ValueError):
                continue
            yield manifest.parent.name, raw, stamp

    def unpublish(self, build_id: str) -> None:
        """No longer findable; the files stay (for sandboxes still running on them)."""
        self._cache.pop(build_id, None)
        if valid_build_id(build_id):
            (self.directory / build_id / MANIFEST).unlink(missing_ok=True)

    def sweep(self, in_use: set[str]) -> list[str]:
        """Remove unpublished builds (deleted, or cut short) that no sandbox uses any more."""
        removed = []
        for entry in self.directory.iterdir() if self.directory.is_dir() else []:
            if entry.is_dir() and entry.name not in in_use and not (entry / MANIFEST).exists():
                self.remove(entry.name)
                removed.append(entry.name)
        return removed

    def remove(self, build_id: str) -> None:
        self._cache.pop(build_id, None)
        if valid_build_id(build_id):
            shutil.rmtree(self.directory / build_id, ignore_errors=True)
