"""`corral doctor`'s pause modes: each runtime variant on a fake host, and this real host."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest

from corral.hostcheck import CHECKS, Finding, Host, Ran, check_pause_modes, run_checks
from corral.hostcheck.pause import first_error

CRUN_181 = (
    "crun version 1.8.1\ncommit: f8a096be\nrundir: /run/crun\nspec: 1.0.0\n"
    "+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +YAJL\n"
)
CRUN_CRIU = CRUN_181.replace("+YAJL", "+CRIU +YAJL")
CRIU_317_CHECK = (
    "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n"
    "Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable\n"
)
RUNSC_HELP = "checkpoint [flags] <container id> - save current state of container.\n"
CRIU_317_FAILS = Ran(1, CRIU_317_CHECK)
RUNSC_HAS_CHECKPOINT = Ran(0, RUNSC_HELP)


def fake_host(tools: set[str], answers: dict[str, Ran]) -> tuple[Host, list[list[str]]]:
    """A host with `tools` on PATH whose commands answer from `answers` (keyed by the command
    line without its directory); every command run is recorded."""
    calls: list[list[str]] = []

    def run(argv: list[str], timeout: float) -> Ran:
        assert timeout <= 10  # doctor never waits long on a probe
        calls.append(argv)
        return answers[" ".join([argv[0].rsplit("/", 1)[-1], *argv[1:]])]

    which: Callable[[str], str | None] = lambda n: f"/usr/bin/{n}" if n in tools else None  # noqa: E731
    return Host(which=which, run=run), calls


def answers(
    crun: str = CRUN_181,
    criu_version: str = "Version: 3.17.1\n",
    criu_check: Ran = CRIU_317_FAILS,
    runsc_help: Ran = RUNSC_HAS_CHECKPOINT,
) -> dict[str, Ran]:
    return {
        "crun --version": Ran(0, crun),
        "criu --version": Ran(0, criu_version),
        "criu check": criu_check,
        "runsc help checkpoint": runsc_help,
    }


def test_both_runtimes_crun_without_criu_is_the_example_line() -> None:
    host, calls = fake_host({"crun", "runsc"}, answers())
    assert check_pause_modes(host) == Finding(
        "pause modes",
        "ok",
        "runsc full+filesystem (checkpoint); "
        "crun filesystem, full in RAM only (freezer: crun built without CRIU, criu not installed)",
    )
    assert calls == [["/usr/bin/runsc", "help", "checkpoint"], ["/usr/bin/crun", "--version"]]


def test_crun_with_criu_but_debian_12_criu_says_why() -> None:
    host, calls = fake_host({"crun", "criu"}, answers(crun=CRUN_CRIU))
    finding = check_pause_modes(host)
    assert finding.status == "warn"  # informational: no durable full pause, never a fail
    assert finding.detail == (
        "crun filesystem, full in RAM only (freezer: criu 3.17.1 check fails: "
        "vdso: Unexpected rt vDSO area bounds): no full pause here survives a host restart"
    )
    assert finding.fix and "runsc" in finding.fix
    assert ["/usr/bin/criu", "check"] in calls


def test_crun_with_a_working_criu_4() -> None:
    ok = answers(
        crun=CRUN_CRIU, criu_version="Version: 4.1.1\n", criu_check=Ran(0, "Looks good.\n")
    )
    host, _ = fake_host({"crun", "criu"}, ok)
    finding = check_pause_modes(host)
    assert "full in RAM only (freezer; CRIU 4.1.1 could checkpoint, unused)" in finding.detail
    assert finding.status == "warn"  # Corral pauses crun with the freezer all the same


def test_an_old_criu_whose_check_passes_is_still_too_old() -> None:
    old = answers(crun=CRUN_CRIU, criu_check=Ran(0, "Looks good.\n"))
    host, _ = fake_host({"crun", "criu"}, old)
    assert "criu 3.17.1 older than 4.1" in check_pause_modes(host).detail


def test_a_hanging_criu_is_bounded_and_reported() -> None:
    hung = answers(crun=CRUN_CRIU, criu_check=Ran(None, "timed out after 5 s"))
    host, _ = fake_host({"crun", "criu"}, hung)
    assert "criu 3.17.1 check fails: timed out after 5 s" in check_pause_modes(host).detail


def test_runsc_alone_and_a_runsc_without_checkpoint() -> None:
    host, _ = fake_host({"runsc"}, answers())
    assert check_pause_modes(host) == Finding(
        "pause modes", "ok", "runsc full+filesystem (checkpoint)"
    )
    no_cmd = answers(runsc_help=Ran(0, "Subcommand checkpoint not understood\n"))
    host, _ = fake_host({"runsc"}, no_cmd)
    finding = check_pause_modes(host)
    assert finding.status == "warn"
    assert "runsc filesystem only (runsc help checkpoint: no checkpoint command)" in finding.detail


def test_no_runtime_is_a_warning_the_tool_checks_fail_for() -> None:
    host, calls = fake_host(set(), answers())
    assert check_pause_modes(host).status == "warn" and calls == []


def test_first_error_strips_criu_prefixes() -> None:
    assert first_error(CRIU_317_CHECK) == "vdso: Unexpected rt vDSO area bounds"
    assert first_error("\n  plain failure\n") == "plain failure"
    assert first_error("") == "no output"


def test_real_runner_bounds_a_command_by_its_timeout() -> None:
    ran = Host().run(["sleep", "5"], 0.2)
    assert ran == Ran(None, "timed out after 0.2 s")
    assert Host().run(["sh", "-c", "echo out; echo err >&2; exit 3"], 5) == Ran(3, "out\nerr\n")
    assert Host().run(["/nonexistent/tool"], 5).code is None


# --- this real host ----------------------------------------------------------------------------


def test_real_host_pause_modes() -> None:
    """What this host offers, measured by the real tools (crun 1.8.1 here lacks +CRIU)."""
    crun, runsc = shutil.which("crun"), shutil.which("runsc")
    if not crun or not runsc:
        pytest.skip("crun and runsc are not both installed (scripts/setup-host.sh installs them)")
    version = subprocess.run([crun, "--version"], capture_output=True, text=True, check=True)
    [finding] = [f for f in run_checks(Host(), CHECKS) if f.name == "pause modes"]
    assert finding.status == "ok", finding
    assert finding.detail.startswith("runsc full+filesystem (checkpoint); crun filesystem, ")
    if "+CRIU" not in version.stdout.split():
        assert "full in RAM only (freezer: crun built without CRIU" in finding.detail
    if not shutil.which("criu", path="/usr/sbin:/usr/bin:/sbin:/bin"):
        assert finding.detail.endswith(", criu not installed)")
    elif (
        "Version: 3."
        in subprocess.run(["criu", "--version"], capture_output=True, text=True).stdout
    ):
        assert "check fails" in finding.detail or "older than 4.1" in finding.detail
