"""`corral doctor`: print what this host offers sandboxes, with a fix for each problem.

The checks live in `corral.hostcheck`; this module only renders them and picks the exit code,
which is non-zero only when a required check fails (a warning never fails the command).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from corral.hostcheck import Finding, Host, run_checks

MARKS = {"ok": "[green]✓ ok  [/]", "warn": "[yellow]! warn[/]", "fail": "[red]✗ fail[/]"}


def render(findings: list[Finding], console: Console) -> None:
    """One line per finding, its fix indented underneath, then a one-line summary."""
    width = max((len(f.name) for f in findings), default=0)
    for f in findings:
        console.print(f"{MARKS[f.status]}  {escape(f.name.ljust(width))}  {escape(f.detail)}")
        if f.fix and f.status != "ok":
            console.print(f"{' ' * (width + 10)}[dim]fix:[/] {escape(f.fix)}")
    counts = {s: sum(f.status == s for f in findings) for s in MARKS}
    verdict = "[red]not ready[/]" if counts["fail"] else "[green]ready[/]"
    console.print(f"\n{verdict}: {counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail")


def run_doctor(host: Host | None = None, console: Console | None = None) -> int:
    """Check the host, print the findings; 1 if a required check failed, else 0."""
    findings = run_checks(host)
    render(findings, console or Console(highlight=False, soft_wrap=True))
    return 1 if any(f.status == "fail" for f in findings) else 0
