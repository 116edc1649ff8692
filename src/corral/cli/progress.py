"""A live progress view of a template build: a bar over buildah's `STEP n/m` lines and the
latest log line beside it, for `corral up` and `corral template build`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

STEP = re.compile(r"^STEP (\d+)/(\d+): (.*)")


@contextmanager
def build_progress(
    console: Console, title: str, *, echo: bool = False
) -> Iterator[Callable[[str], None]]:
    """Yields the callback to feed log lines to; `echo` also prints every line."""
    columns = (
        TextColumn("[bold]{task.fields[title]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=None, title=title)

        def on_log(line: str) -> None:
            if echo:
                progress.console.print(escape(line), highlight=False)
            match = STEP.match(line)
            if match:
                done, total, what = int(match[1]) - 1, int(match[2]), match[3]
                progress.update(task, completed=done, total=total, description=escape(what[:60]))
            elif line.strip():
                progress.update(task, description=escape(line.strip()[:60]))

        yield on_log
        progress.update(task, completed=progress.tasks[0].total or 0)
