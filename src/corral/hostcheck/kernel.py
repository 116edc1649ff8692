"""Checks of the kernel and the machine: privileges, namespaces, cgroups, filesystems, KVM."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from corral.hostcheck.base import SETUP, Finding, Host

GIB = 1024**3
DISK_FAIL_BYTES = 2 * GIB
"""Below this the base rootfs, an envd distribution and a few sandbox disks no longer fit."""
DISK_WARN_BYTES = 10 * GIB


def check_root(host: Host) -> Finding:
    if host.euid == 0:
        return Finding("root", "ok", "running as root")
    return Finding(
        "root",
        "fail",
        f"running as uid {host.euid}; namespaces, cgroups and mounts need root",
        "run Corral as root (sudo corral …)",
    )


NAMESPACES = ("user", "net", "pid", "mnt", "ipc", "uts")


def check_namespaces(host: Host) -> Finding:
    try:
        present = {p.name for p in (host.proc / "self" / "ns").iterdir()}
    except OSError as exc:
        return Finding("namespaces", "fail", f"cannot list /proc/self/ns: {exc}")
    missing = [ns for ns in NAMESPACES if ns not in present]
    if missing:
        return Finding(
            "namespaces",
            "fail",
            f"kernel lacks namespaces: {', '.join(missing)}",
            "use a kernel built with CONFIG_NAMESPACES and the missing CONFIG_*_NS options",
        )
    return Finding("namespaces", "ok", ", ".join(NAMESPACES))


def cgroup_mounts(host: Host) -> tuple[set[str], list[str]]:
    """The v1 controllers mounted, and the mount points of cgroup2, from /proc/self/mounts."""
    v1: set[str] = set()
    v2: list[str] = []
    for line in (host.read(host.proc / "self" / "mounts") or "").splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        if parts[2] == "cgroup":
            v1.update(o for o in parts[3].split(",") if o not in {"rw", "ro", "relatime"})
        elif parts[2] == "cgroup2":
            v2.append(parts[1])
    return v1, v2


CGROUP_CONTROLLERS = ("cpu", "memory", "pids", "freezer")


def check_cgroups(host: Host) -> Finding:
    v1, v2 = cgroup_mounts(host)
    root = str(host.sys / "fs" / "cgroup")
    if root in v2:
        layout = "v2 (unified)"
        have = set((host.read(host.sys / "fs" / "cgroup" / "cgroup.controllers") or "").split())
        have.add("freezer")  # cgroup v2 freezes through cgroup.freeze, not a controller
    else:
        layout = "v1 hybrid" if v2 else "v1 legacy"
        have = v1
    missing = [c for c in CGROUP_CONTROLLERS if c not in have]
    if missing:
        return Finding(
            "cgroups",
            "fail",
            f"{layout}; controllers missing: {', '.join(missing)}",
            "mount the missing cgroup controllers (or boot with them enabled)",
        )
    return Finding("cgroups", "ok", f"{layout}; {', '.join(CGROUP_CONTROLLERS)} mounted")


def check_hugetlb(host: Host) -> Finding:
    """crun 1.8 refuses a hybrid host whose cgroup2 still owns a controller (here: hugetlb).

    Mounting the hugetlb v1 hierarchy takes it away from cgroup2; once taken, the kernel keeps it
    v1 even after an unmount, so the test is what cgroup2 owns, not what is mounted.
    """
    v1, v2 = cgroup_mounts(host)
    cgroup = host.sys / "fs" / "cgroup"
    if not v1 or not v2 or str(cgroup) in v2:
        return Finding("cgroup hugetlb", "ok", "not needed outside a v1 hybrid layout")
    owned = sorted(
        {c for m in v2 for c in (host.read(Path(m) / "cgroup.controllers") or "").split()}
    )
    if not owned:
        mounted = "hugetlb v1 mounted" if "hugetlb" in v1 else "hugetlb not in cgroup2"
        return Finding("cgroup hugetlb", "ok", f"{mounted}; cgroup2 owns no controller")
    return Finding(
        "cgroup hugetlb",
        "fail",
        f"cgroup2 owns {', '.join(owned)}: crun 1.8 refuses this hybrid layout",
        f"{SETUP}, or: mkdir -p {cgroup}/hugetlb && mount -t cgroup -o hugetlb cgroup "
        f"{cgroup}/hugetlb",
    )


def _filesystems(host: Host) -> set[str]:
    text = host.read(host.proc / "filesystems") or ""
    return {line.split()[-1] for line in text.splitlines() if line.strip()}


def check_overlay(host: Host) -> Finding:
    if "overlay" in _filesystems(host):
        return Finding("overlayfs", "ok", "overlay in /proc/filesystems")
    return Finding(
        "overlayfs",
        "fail",
        "no overlay filesystem: sandboxes share the template rootfs through it",
        "use a kernel with CONFIG_OVERLAY_FS (or modprobe overlay)",
    )


def kernel_config(host: Host) -> dict[str, str] | None:
    """The running kernel's `CONFIG_*` options from /proc/config.gz, when the kernel exposes it."""
    try:
        text = gzip.decompress((host.proc / "config.gz").read_bytes()).decode()
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    options = (line.partition("=") for line in text.splitlines() if line.startswith("CONFIG_"))
    return {name: value for name, _, value in options}


def check_xfs(host: Host) -> Finding:
    """XFS project quotas would give per-sandbox disk limits on one shared filesystem.

    Optional: without them each sandbox's writable layer is a loop-mounted ext4 image.
    """
    fix = "optional: a kernel with CONFIG_XFS_FS and CONFIG_XFS_QUOTA"
    if "xfs" not in _filesystems(host):
        return Finding("xfs", "warn", "no xfs support; disk limits use loop images", fix)
    config = kernel_config(host)
    if config is None:
        return Finding("xfs", "ok", "xfs supported (quota support not verifiable)")
    if config.get("CONFIG_XFS_QUOTA") != "y":
        detail = "xfs without quotas (no CONFIG_XFS_QUOTA); disk limits use loop images"
        return Finding("xfs", "warn", detail, fix)
    return Finding("xfs", "ok", "xfs with quotas")


def check_loop(host: Host) -> Finding:
    if (host.dev / "loop-control").exists():
        return Finding("loop devices", "ok", "/dev/loop-control present")
    return Finding(
        "loop devices",
        "fail",
        "no /dev/loop-control: each sandbox's writable layer is a loop-mounted image",
        "use a kernel with CONFIG_BLK_DEV_LOOP (or modprobe loop)",
    )


def check_kvm(host: Host) -> Finding:
    """microVMs need /dev/kvm backed by real VMX/SVM; PVM-only KVM interprets stock guests."""
    cpuinfo = host.read(host.proc / "cpuinfo") or ""
    flags = {w for line in cpuinfo.splitlines() if line.startswith("flags") for w in line.split()}
    hardware = bool(flags & {"vmx", "svm"})
    kvm = host.dev / "kvm"
    if not kvm.exists():
        return Finding(
            "kvm",
            "warn",
            "no /dev/kvm: microVMs (not yet a driver) would need TCG emulation",
            "optional: enable virtualization (or nested virtualization) for this machine",
        )
    usable = os.access(kvm, os.R_OK | os.W_OK)
    if hardware and usable:
        return Finding("kvm", "ok", "/dev/kvm usable, CPU has hardware virtualization")
    why = "the CPU has no vmx/svm flag (PVM-only or nested KVM)"
    if not usable:
        why = "not readable and writable by this user"
    return Finding(
        "kvm",
        "warn",
        f"/dev/kvm present, but {why}: microVMs would need TCG",
        "optional: containers (crun, runsc) do not need KVM",
    )


def check_ip_forward(host: Host) -> Finding:
    value = (host.read(host.proc / "sys" / "net" / "ipv4" / "ip_forward") or "").strip()
    if value == "1":
        return Finding("ipv4 forwarding", "ok", "net.ipv4.ip_forward = 1")
    return Finding(
        "ipv4 forwarding",
        "warn",
        f"net.ipv4.ip_forward = {value or '?'}: sandboxes get no internet access",
        f"{SETUP}, or: sysctl -w net.ipv4.ip_forward=1",
    )


def check_disk(host: Host) -> Finding:
    """Free space where the data dir is (or will be: its nearest existing ancestor)."""
    where = host.data_dir
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        st = os.statvfs(where)
    except OSError as exc:
        return Finding("disk", "fail", f"cannot stat {where}: {exc}")
    free = st.f_bavail * st.f_frsize
    detail = f"{free / GIB:.1f} GiB free for {host.data_dir}"
    fix = f"free space on {where} or point CORRAL_DATA_DIR elsewhere"
    if free < DISK_FAIL_BYTES:
        return Finding("disk", "fail", f"{detail} (need {DISK_FAIL_BYTES // GIB} GiB)", fix)
    if free < DISK_WARN_BYTES:
        return Finding("disk", "warn", f"{detail} (under {DISK_WARN_BYTES // GIB} GiB)", fix)
    return Finding("disk", "ok", detail)
