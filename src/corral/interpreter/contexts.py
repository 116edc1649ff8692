"""Every context of the server, and the default context of each language.

`run_code` without a context runs in its language's default context: Python's is started
with the server (and the others listed in `Settings.start_languages`), the rest on first use,
as E2B's server does. A default context that is removed is replaced on the next run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from corral import logs
from corral.interpreter import languages
from corral.interpreter.context import CodeContext
from corral.interpreter.errors import ContextNotFound, InvalidRequest
from corral.interpreter.settings import Settings

log = logs.get("interpreter.contexts")


class Contexts:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # Connection files (ports and the HMAC key of each kernel) stay private to us.
        self._runtime_dir = Path(tempfile.mkdtemp(prefix="corral-interpreter-"))
        self._contexts: dict[str, CodeContext] = {}
        self._defaults: dict[str, str] = {}
        self._default_locks: dict[str, asyncio.Lock] = {}

    async def start_defaults(self) -> None:
        await asyncio.gather(
            *(self.default(languages.normalize(lang)) for lang in self._settings.start_languages)
        )

    async def create(self, language: str | None, cwd: str | None) -> CodeContext:
        name = languages.normalize(language)
        directory = cwd or self._settings.default_cwd()
        if not os.path.isdir(directory):  # noqa: ASYNC240 (one stat, microseconds)
            raise InvalidRequest(f"cwd {directory!r} is not a directory")
        context = CodeContext(name, directory, self._settings, self._runtime_dir)
        await context.start()
        self._contexts[context.id] = context
        log.info("context created", context=context.id, language=name, cwd=directory)
        return context

    async def default(self, language: str) -> CodeContext:
        lock = self._default_locks.setdefault(language, asyncio.Lock())
        async with lock:
            context = self._contexts.get(self._defaults.get(language, ""))
            if context is None:
                context = await self.create(language, None)
                self._defaults[language] = context.id
            return context

    def get(self, context_id: str) -> CodeContext:
        context = self._contexts.get(context_id)
        if context is None:
            raise ContextNotFound(f"Context {context_id} not found")
        return context

    def all(self) -> list[CodeContext]:
        return list(self._contexts.values())

    async def remove(self, context_id: str) -> None:
        context = self.get(context_id)
        del self._contexts[context_id]
        await context.close()
        log.info("context removed", context=context_id)

    async def close(self) -> None:
        contexts, self._contexts = list(self._contexts.values()), {}
        await asyncio.gather(*(context.close() for context in contexts), return_exceptions=True)
        shutil.rmtree(self._runtime_dir, ignore_errors=True)
