"""`corral doctor`: the real command on this host, and each check against a fake tree."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest
from rich.console import Console

from corral.cli import doctor
from corral.hostcheck import (
    Finding,
    Host,
    Tool,
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
    run_checks,
)

CORRAL = Path(sys.executable).parent / "corral"

HYBRID_MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup2 {unified} cgroup2 rw,relatime 0 0
"""


# --- the real command on this host -------------------------------------------------------------


@pytest.fixture(scope="module")
def real_doctor() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CORRAL), "doctor"], capture_output=True, text=True, timeout=60, check=False
    )


def finding_line(output: str, name: str) -> str:
    match = re.search(rf"^. (ok|warn|fail) +{re.escape(name)}  .*$", output, re.MULTILINE)
    assert match, f"no finding {name!r} in:\n{output}"
    return match.group(0)


def test_real_host_findings(real_doctor: subprocess.CompletedProcess[str]) -> None:
    out = real_doctor.stdout
    assert real_doctor.returncode == (1 if re.search(r"^. fail", out, re.MULTILINE) else 0), out
    assert re.search(r"\d+ ok, \d+ warn, \d+ fail$", out.strip())
    for name in ("namespaces", "overlayfs", "loop devices"):
        assert " ok " in finding_line(out, name)
    if os.geteuid() == 0:
        assert " ok " in finding_line(out, "root")
    else:
        assert " fail " in finding_line(out, "root")


def test_real_host_runtimes_with_versions(real_doctor: subprocess.CompletedProcess[str]) -> None:
    out = real_doctor.stdout
    if not Path("/usr/bin/crun").exists():
        pytest.skip("crun is not installed (scripts/setup-host.sh installs it)")
    assert re.search(r"ok +crun +\S+crun: crun version \d+\.\d+", finding_line(out, "crun"))
    if Path("/usr/bin/runsc").exists():
        assert re.search(r"runsc version \S+", finding_line(out, "runsc"))


def test_real_host_kvm_is_reported_never_failed(
    real_doctor: subprocess.CompletedProcess[str],
) -> None:
    line = finding_line(real_doctor.stdout, "kvm")
    assert " fail " not in line
    flags = Path("/proc/cpuinfo").read_text()
    if Path("/dev/kvm").exists() and not re.search(r"\b(vmx|svm)\b", flags):
        assert "TCG" in line  # this host: PVM-only KVM


# --- each check against a fake tree ----------------------------------------------------------


def fake_host(tmp_path: Path, **overrides: object) -> Host:
    for sub in ("proc/self/ns", "proc/sys/net/ipv4", "sys/fs/cgroup", "dev"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    fields: dict[str, object] = {
        "proc": tmp_path / "proc",
        "sys": tmp_path / "sys",
        "dev": tmp_path / "dev",
        "data_dir": tmp_path / "data",
        "euid": 0,
        "which": lambda name: None,
        "first_line": lambda argv: "",
    }
    fields.update(overrides)
    return Host(**fields)  # type: ignore[arg-type]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_root(tmp_path: Path) -> None:
    assert check_root(fake_host(tmp_path)).status == "ok"
    finding = check_root(fake_host(tmp_path, euid=1000))
    assert finding.status == "fail" and "1000" in finding.detail and finding.fix


def test_namespaces(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    for ns in ("user", "net", "pid", "mnt", "ipc", "uts", "cgroup"):
        (host.proc / "self/ns" / ns).touch()
    assert check_namespaces(host).status == "ok"
    (host.proc / "self/ns/user").unlink()
    finding = check_namespaces(host)
    assert finding.status == "fail" and "user" in finding.detail


def test_cgroups_hybrid(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    write(host.proc / "self/mounts", HYBRID_MOUNTS.format(unified="/sys/fs/cgroup/unified"))
    finding = check_cgroups(host)
    assert finding == Finding("cgroups", "ok", "v1 hybrid; cpu, memory, pids, freezer mounted")


def test_cgroups_missing_controller(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    mounts = HYBRID_MOUNTS.format(unified="/x").replace("pids", "blkio")
    write(host.proc / "self/mounts", mounts)
    finding = check_cgroups(host)
    assert finding.status == "fail" and "pids" in finding.detail


def test_cgroups_v2(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    cgroup = host.sys / "fs/cgroup"
    write(host.proc / "self/mounts", f"cgroup2 {cgroup} cgroup2 rw 0 0\n")
    write(cgroup / "cgroup.controllers", "cpuset cpu io memory pids\n")
    assert check_cgroups(host).status == "ok"
    assert "v2" in check_cgroups(host).detail
    assert check_hugetlb(host).status == "ok"


def test_hugetlb_owned_by_cgroup2_fails_with_the_fix(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    unified = tmp_path / "unified"
    write(host.proc / "self/mounts", HYBRID_MOUNTS.format(unified=unified))
    write(unified / "cgroup.controllers", "hugetlb\n")
    finding = check_hugetlb(host)
    assert finding.status == "fail" and "hugetlb" in finding.detail
    assert finding.fix and "setup-host.sh" in finding.fix
    assert "mount -t cgroup -o hugetlb" in finding.fix

    write(unified / "cgroup.controllers", "")  # after the mount: cgroup2 owns nothing
    assert check_hugetlb(host).status == "ok"


def test_hugetlb_not_needed_on_legacy_v1(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    write(host.proc / "self/mounts", "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n")
    assert check_hugetlb(host).status == "ok"


def test_overlay_and_xfs(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    write(host.proc / "filesystems", "nodev\tsysfs\nnodev\toverlay\n\text4\n\txfs\n")
    assert check_overlay(host).status == "ok"
    assert check_xfs(host).status == "ok"  # no config.gz: quota support not verifiable
    config = b"CONFIG_XFS_FS=y\n# CONFIG_XFS_QUOTA is not set\n"
    (host.proc / "config.gz").write_bytes(gzip.compress(config))
    finding = check_xfs(host)
    assert finding.status == "warn" and "CONFIG_XFS_QUOTA" in finding.detail
    (host.proc / "config.gz").write_bytes(gzip.compress(b"CONFIG_XFS_FS=y\nCONFIG_XFS_QUOTA=y\n"))
    assert check_xfs(host).status == "ok"

    write(host.proc / "filesystems", "nodev\tsysfs\n\text4\n")
    assert check_overlay(host).status == "fail"
    assert check_xfs(host).status == "warn"  # optional: disk limits use loop images


def test_loop(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    assert check_loop(host).status == "fail"
    (host.dev / "loop-control").touch()
    assert check_loop(host).status == "ok"


def test_kvm(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    write(host.proc / "cpuinfo", "processor\t: 0\nflags\t\t: fpu sse2 hypervisor\n")
    assert check_kvm(host).status == "warn"  # no /dev/kvm
    (host.dev / "kvm").touch(mode=0o600)
    finding = check_kvm(host)
    assert finding.status == "warn" and "vmx/svm" in finding.detail and "TCG" in finding.detail
    write(host.proc / "cpuinfo", "processor\t: 0\nflags\t\t: fpu svm sse2\n")
    assert check_kvm(host).status == ("ok" if os.geteuid() == 0 else "warn")


def test_ip_forward(tmp_path: Path) -> None:
    host = fake_host(tmp_path)
    write(host.proc / "sys/net/ipv4/ip_forward", "0\n")
    finding = check_ip_forward(host)
    assert finding.status == "warn" and finding.fix and "ip_forward=1" in finding.fix
    write(host.proc / "sys/net/ipv4/ip_forward", "1\n")
    assert check_ip_forward(host).status == "ok"


StatVFS = namedtuple("StatVFS", "f_bavail f_frsize")


@pytest.mark.parametrize(("free_gib", "status"), [(1, "fail"), (5, "warn"), (50, "ok")])
def test_disk_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free_gib: int, status: str
) -> None:
    seen: list[str] = []

    def statvfs(path: object) -> StatVFS:
        seen.append(str(path))
        return StatVFS(free_gib * 1024**2, 1024)

    monkeypatch.setattr("corral.hostcheck.kernel.os.statvfs", statvfs)
    host = fake_host(tmp_path, data_dir=tmp_path / "not" / "yet" / "made")
    finding = check_disk(host)
    assert finding.status == status and f"{free_gib:.1f} GiB" in finding.detail
    assert seen == [str(tmp_path)]  # the nearest existing ancestor of the data dir


def test_tools(tmp_path: Path) -> None:
    crun = Tool("crun", ("--version",), "the fast OCI runtime")
    buildah = Tool("buildah", ("--version",), "builds", required=False)
    host = fake_host(tmp_path)
    assert crun.check(host).status == "fail"
    assert buildah.check(host).status == "warn"
    calls: list[list[str]] = []

    def first_line(argv: list[str]) -> str:
        calls.append(argv)
        return "crun version 1.8.1"

    host = fake_host(tmp_path, which=lambda name: f"/usr/bin/{name}", first_line=first_line)
    assert crun.check(host) == Finding("crun", "ok", "/usr/bin/crun: crun version 1.8.1")
    assert calls == [["/usr/bin/crun", "--version"]]


def test_a_crashing_check_is_a_finding(tmp_path: Path) -> None:
    def check_broken(host: Host) -> Finding:
        raise RuntimeError("boom")

    findings = run_checks(fake_host(tmp_path), (check_broken, check_root))
    assert findings[0].name == "broken" and findings[0].status == "fail"
    assert "boom" in findings[0].detail
    assert findings[1].status == "ok"


@pytest.mark.parametrize(("statuses", "code"), [(("ok", "warn"), 0), (("ok", "fail"), 1)])
def test_exit_code_fails_only_on_a_failed_check(
    monkeypatch: pytest.MonkeyPatch, statuses: tuple[str, ...], code: int
) -> None:
    findings = [Finding(f"c{i}", s, "detail", "the fix") for i, s in enumerate(statuses)]  # type: ignore[arg-type]
    monkeypatch.setattr(doctor, "run_checks", lambda host: findings)
    console = Console(record=True, width=200)
    assert doctor.run_doctor(console=console) == code
    text = console.export_text()
    assert "fix: the fix" in text  # shown for the warn and the fail
    assert text.count("fix:") == 1
