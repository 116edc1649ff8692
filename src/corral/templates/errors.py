"""One exception tree for template builds."""

from __future__ import annotations


class TemplateError(Exception):
    """Base of every template error."""


class InvalidBuildSpec(TemplateError):
    """The build request cannot be built as given (unknown step, bad arguments)."""


class ArtifactNotFound(TemplateError):
    """An artifact (COPY files, a template's export) is not in the store."""


class BuildFailed(TemplateError):
    """A build ended in error: `reason` for the user, `step` the failed step's name when known."""

    def __init__(self, reason: str, step: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.step = step
