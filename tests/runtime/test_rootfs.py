"""The base rootfs: the mirror taken from apt's sources, the build-once cache, the real build."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from corral.runtime import rootfs
from corral.runtime.errors import HostSetupError
from corral.runtime.rootfs import (
    PACKAGES,
    STAMP,
    apt_source_files,
    debian_mirror,
    ensure_base_rootfs,
    ensure_base_rootfs_sync,
    is_current,
    lower_in_use,
)

# --- the mirror from this machine's apt sources ------------------------------------------------

DEB822 = """\
Types: deb deb-src
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.net/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NlOhQ4G3LkAKJkz0BZ5QJbMTr6
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: http://mirror.example.net/debian-security
Suites: bookworm-security
Components: main
"""


def sources(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return apt_source_files((tmp_path / "sources.list", tmp_path / "sources.list.d"))


def test_mirror_from_deb822(tmp_path: Path) -> None:
    files = sources(tmp_path, {"sources.list.d/debian.sources": DEB822})
    assert debian_mirror("bookworm", files) == "http://mirror.example.net/debian"


def test_mirror_skips_disabled_source_and_other_suites(tmp_path: Path) -> None:
    files = sources(
        tmp_path,
        {
            "sources.list.d/a-backports.sources": (
                "Types: deb\nURIs: http://backports.example/debian\n"
                "Suites: bookworm-backports\nComponents: main\n"
            ),
            "sources.list.d/b-disabled.sources": (
                "Types: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\n"
                "Components: main\nEnabled: no\n"
            ),
            "sources.list.d/c-src-only.sources": (
                "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n"
            ),
            "sources.list.d/d-debian.sources": DEB822,
        },
    )
    assert debian_mirror("bookworm", files) == "http://mirror.example.net/debian"


def test_mirror_from_one_line_sources_list_first(tmp_path: Path) -> None:
    files = sources(
        tmp_path,
        {
            "sources.list": (
                "# deb http://commented.example/debian bookworm main\n"
                "deb-src http://src.example/debian bookworm main\n"
                "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                "https://list.example/debian bookworm main contrib\n"
            ),
            "sources.list.d/debian.sources": DEB822,
            "sources.list.d/ignored.txt": "deb http://ignored.example/debian bookworm main\n",
        },
    )
    assert [p.name for p in files] == ["sources.list", "debian.sources"]
    assert debian_mirror("bookworm", files) == "https://list.example/debian"


def test_mirror_missing_names_the_fix(tmp_path: Path) -> None:
    files = sources(tmp_path, {"sources.list.d/debian.sources": DEB822})
    with pytest.raises(HostSetupError, match="no apt source for Debian 'trixie'"):
        debian_mirror("trixie", files)


def test_mirror_of_this_machine_is_from_its_apt_sources() -> None:
    if not apt_source_files():
        pytest.skip("this machine has no apt sources")
    mirror = debian_mirror()
    texts = "".join(p.read_text() for p in apt_source_files())
    assert mirror.split("://", 1)[1].split("/")[0] in texts


# --- build once, atomically, rebuild on a changed recipe (debootstrap faked) ---------------


@pytest.fixture
def fake_build(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Replace debootstrap and the chroot steps with a tiny tree; records each build's packages."""
    builds: list[tuple[str, ...]] = []

    async def debootstrap(target: Path, mirror: str, packages: tuple[str, ...], *_: object) -> None:
        builds.append(packages)
        (target / "etc").mkdir(parents=True)
        (target / "etc/os-release").write_text(f"build {len(builds)}\n")
        if "broken" in packages:
            raise RuntimeError("debootstrap failed")

    async def configure(root: Path, packages: tuple[str, ...], *_: object) -> None:
        (root / STAMP).parent.mkdir(parents=True, exist_ok=True)
        (root / STAMP).write_text(json.dumps({"key": rootfs._recipe(packages)}))

    monkeypatch.setattr(rootfs, "_debootstrap", debootstrap)
    monkeypatch.setattr(rootfs, "_configure", configure)
    return builds


async def test_builds_once_then_reuses(tmp_path: Path, fake_build: list[tuple[str, ...]]) -> None:
    dest = tmp_path / "base" / "rootfs"
    assert await ensure_base_rootfs(dest, mirror="http://m/debian") == dest
    assert await ensure_base_rootfs(dest, mirror="http://m/debian") == dest
    assert fake_build == [PACKAGES]
    assert is_current(dest)
    assert sorted(p.name for p in dest.parent.iterdir()) == [".rootfs.lock", "debs", "rootfs"]


async def test_changed_package_list_rebuilds(
    tmp_path: Path, fake_build: list[tuple[str, ...]]
) -> None:
    dest = tmp_path / "rootfs"
    await ensure_base_rootfs(dest, mirror="http://m/debian")
    more = (*PACKAGES, "git")
    assert not is_current(dest, more)
    await ensure_base_rootfs(dest, packages=more, mirror="http://m/debian")
    assert fake_build == [PACKAGES, more]
    assert (dest / "etc/os-release").read_text() == "build 2\n"
    assert is_current(dest, more) and not is_current(dest, PACKAGES)
    assert not [p for p in tmp_path.iterdir() if ".old-" in p.name or ".build-" in p.name]


async def test_failed_build_keeps_the_old_rootfs_and_no_temp_dir(
    tmp_path: Path, fake_build: list[tuple[str, ...]]
) -> None:
    dest = tmp_path / "rootfs"
    await ensure_base_rootfs(dest, mirror="http://m/debian")
    with pytest.raises(RuntimeError, match="debootstrap failed"):
        await ensure_base_rootfs(dest, packages=("broken",), mirror="http://m/debian")
    assert is_current(dest) and (dest / "etc/os-release").read_text() == "build 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".rootfs.lock", "debs", "rootfs"]


async def test_a_tree_without_stamp_is_rebuilt(
    tmp_path: Path, fake_build: list[tuple[str, ...]]
) -> None:
    dest = tmp_path / "rootfs"
    (dest / "etc").mkdir(parents=True)  # e.g. copied by hand, or from before stamps
    await ensure_base_rootfs(dest, mirror="http://m/debian")
    assert fake_build == [PACKAGES] and is_current(dest)


@pytest.mark.root
async def test_replaced_rootfs_is_kept_while_an_overlay_uses_it(
    tmp_path: Path, fake_build: list[tuple[str, ...]]
) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to hold an overlay mount in another namespace")
    dest = tmp_path / "rootfs"
    await ensure_base_rootfs(dest, mirror="http://m/debian")
    mnt, upper, work = (tmp_path / d for d in ("mnt", "upper", "work"))
    for d in (mnt, upper, work):
        d.mkdir()
    # A sandbox stand-in: an overlay on the rootfs, in a mount namespace of its own.
    options = f"lowerdir={dest},upperdir={upper},workdir={work}"
    holder = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"mount -t overlay overlay -o {options} {mnt} && echo ready && exec sleep 60"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
        assert lower_in_use(dest)
        await ensure_base_rootfs(dest, packages=(*PACKAGES, "git"), mirror="http://m/debian")
        olds = list(tmp_path.glob(".rootfs.old-*"))
        assert len(olds) == 1 and (olds[0] / "etc/os-release").read_text() == "build 1\n"
    finally:
        holder.kill()
        holder.wait()
    assert not lower_in_use(dest)
    await ensure_base_rootfs(dest, mirror="http://m/debian")  # the next rebuild cleans up
    assert not list(tmp_path.glob(".rootfs.old-*"))


# --- the real thing (debootstrap, ~40 s the first time; cached in the data dir) ------------


def in_root(root: Path, *argv: str, user: str | None = None) -> str:
    spec = ["--userspec", user] if user else []
    done = subprocess.run(
        ["chroot", *spec, str(root), *argv], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


@pytest.mark.slow
@pytest.mark.root
def test_base_rootfs_is_a_debian_sandbox(base_rootfs: Path) -> None:
    assert is_current(base_rootfs)
    assert "VERSION_CODENAME=bookworm" in (base_rootfs / "etc/os-release").read_text()
    version = in_root(base_rootfs, "/usr/bin/python3", "-c", "import sys; print(sys.version)")
    assert version.startswith("3.11.")
    for tool in ("bash", "sudo", "ps", "ip", "curl", "update-ca-certificates"):
        assert in_root(base_rootfs, "/bin/bash", "-c", f"command -v {tool}")


@pytest.mark.slow
@pytest.mark.root
def test_base_rootfs_user_has_passwordless_sudo(base_rootfs: Path) -> None:
    passwd = (base_rootfs / "etc/passwd").read_text()
    assert "user:x:1000:1000::/home/user:/bin/bash" in passwd.splitlines()
    home = (base_rootfs / "home/user").stat()
    assert (home.st_uid, home.st_gid) == (1000, 1000)
    sudoers = base_rootfs / "etc/sudoers.d/user"
    assert stat.S_IMODE(sudoers.stat().st_mode) == 0o440
    assert in_root(base_rootfs, "/usr/bin/id", "-un", user="1000:1000") == "user"
    assert in_root(base_rootfs, "/usr/bin/sudo", "-n", "/usr/bin/id", "-u", user="1000:1000") == "0"


@pytest.mark.slow
@pytest.mark.root
def test_base_rootfs_etc_placeholders(base_rootfs: Path) -> None:
    assert (base_rootfs / "etc/hostname").read_text() == "sandbox\n"
    resolv = base_rootfs / "etc/resolv.conf"
    assert not resolv.is_symlink() and "nameserver " in resolv.read_text()
    assert "127.0.0.1\tlocalhost" in (base_rootfs / "etc/hosts").read_text()
    assert (base_rootfs / "opt/corral").is_dir()  # envd distribution's mount point
    assert not list((base_rootfs / "var/cache/apt/archives").glob("*.deb"))
    stamp = json.loads((base_rootfs / STAMP).read_text())
    assert stamp["key"]["packages"] == list(PACKAGES)
    assert stamp["info"]["mirror"] == debian_mirror()


@pytest.mark.slow
@pytest.mark.root
def test_base_rootfs_second_call_is_cached(base_rootfs: Path) -> None:
    before = base_rootfs.stat().st_ino
    started = time.monotonic()
    assert ensure_base_rootfs_sync(base_rootfs) == base_rootfs
    assert time.monotonic() - started < 1.0
    assert base_rootfs.stat().st_ino == before
    assert not [p for p in base_rootfs.parent.iterdir() if ".build-" in p.name]
    assert os.access(base_rootfs / "usr/bin/python3", os.X_OK)
