"""The seccomp profile of every sandbox: allow by default, refuse what reaches past the sandbox.

A deny-list rather than Docker's 300-entry allow-list: sandboxes run arbitrary user programs
(compilers, debuggers, language runtimes) and the other walls (namespaces, capabilities, cgroups,
and gVisor for the secure runtime) already stand. What is denied here are the calls that act on
the host kernel as a whole — modules, kexec, reboot, swap, clocks, keyrings, BPF, perf — or that
have a history of container escapes (open_by_handle_at, userfaultfd, io_uring).
"""

from __future__ import annotations

from typing import Any

DENIED_SYSCALLS = [
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount_setattr",
    "move_mount",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "umount",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
]

EPERM = 1


def seccomp_profile() -> dict[str, Any]:
    """The OCI `linux.seccomp` section."""
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": DENIED_SYSCALLS, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM},
        ],
    }
