"""What this host offers sandboxes, as a list of findings with a fix for each problem.

Behind `corral doctor`, and usable by any component that wants to refuse to start with a clear
message. A check never raises: what it cannot read is itself a finding. New checks go in
`kernel.py`, `tools.py` or `pause.py` and into `CHECKS`.
"""

from __future__ import annotations

from corral.hostcheck.base import Check, Finding, Host, Ran, Status
from corral.hostcheck.kernel import (
    check_cgroups,
    check_disk,
    check_hugetlb,
    check_ip_forward,
    check_kvm,
    check_loop,
    check_namespaces,
    check_overlay,
    check_root,
    check_xfs,
)
from corral.hostcheck.pause import check_pause_modes
from corral.hostcheck.tools import TOOLS, Tool

__all__ = [
    "CHECKS",
    "TOOLS",
    "Check",
    "Finding",
    "Host",
    "Ran",
    "Status",
    "Tool",
    "check_pause_modes",
    "run_checks",
]

CHECKS: tuple[Check, ...] = (
    check_root,
    check_namespaces,
    check_cgroups,
    check_hugetlb,
    check_overlay,
    check_xfs,
    check_loop,
    *(tool.check for tool in TOOLS),
    check_pause_modes,
    check_kvm,
    check_ip_forward,
    check_disk,
)


def run_checks(host: Host | None = None, checks: tuple[Check, ...] = CHECKS) -> list[Finding]:
    """Every check's finding, in order; a check that crashes is reported, not raised."""
    host = host or Host()
    findings = []
    for check in checks:
        try:
            findings.append(check(host))
        except Exception as exc:  # a bug in one check must not hide the others' findings
            owner = getattr(check, "__self__", None)  # a Tool's bound `check`
            name = str(getattr(owner, "name", None) or getattr(check, "__name__", "check"))
            name = name.removeprefix("check_")
            findings.append(Finding(name, "fail", f"check crashed: {exc!r}"))
    return findings
