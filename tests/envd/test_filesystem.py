"""files.* of the official SDK (list, exists, get_info, make_dir, rename, remove, watch_dir)
against a real envd process, acting as the test user unless a call says `user="root"`.

Fixture files are made directly on this machine (envd runs here) and handed to the test user.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from e2b import (
    AsyncSandbox,
    FileNotFoundException,
    FilesystemEvent,
    FilesystemEventType,
    FileType,
    InvalidArgumentException,
    NotFoundException,
    Sandbox,
    SandboxException,
    TimeoutException,
    WatchHandle,
)

from tests.envd.conftest import TEST_USER, Envd

Ev = tuple[FilesystemEventType, str]


def _own(path: Path) -> Path:
    pw = pwd.getpwnam(TEST_USER)
    os.lchown(path, pw.pw_uid, pw.pw_gid)
    return path


def _file(path: Path, data: str = "") -> Path:
    _dir(path.parent)
    path.write_text(data)
    path.chmod(0o644)
    return _own(path)


def _dir(path: Path) -> Path:
    """`mkdir -p` whose new directories belong to the test user, as if made by it."""
    if not path.exists():
        _dir(path.parent)
        path.mkdir(mode=0o755)
        _own(path)
    return path


def _group() -> str:
    return grp.getgrgid(pwd.getpwnam(TEST_USER).pw_gid).gr_name


def _alive(envd: Envd) -> None:
    assert envd.proc.poll() is None
    assert httpx.get(f"{envd.url}/health").status_code == 204


def _watches(envd: Envd, *paths: str | Path) -> int:
    """How many inotify watches the envd process holds on these directories (by inode, so
    watches of other tests still winding down do not count)."""
    inodes = {os.stat(p).st_ino for p in paths}
    count = 0
    for info in Path(f"/proc/{envd.proc.pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:
            continue
        count += sum(
            int(ino, 16) in inodes for ino in re.findall(r"inotify wd:\d+ ino:(\w+)", text)
        )
    return count


def _wait_for(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


# files.list


def test_list_depth_one_and_two(sbx: Sandbox, workdir: str) -> None:
    root = Path(workdir)
    _file(root / "file1.txt", "Hello, world!")
    for sub in ("subdir1/subdir1_1", "subdir1/subdir1_2", "subdir2"):
        _dir(root / sub)
    _file(root / "subdir2" / "a.txt")

    one = sbx.files.list(workdir)
    assert [(e.name, e.type, e.path) for e in one] == [
        ("file1.txt", FileType.FILE, f"{workdir}/file1.txt"),
        ("subdir1", FileType.DIR, f"{workdir}/subdir1"),
        ("subdir2", FileType.DIR, f"{workdir}/subdir2"),
    ]
    two = sbx.files.list(workdir, depth=2)
    assert [e.path.removeprefix(workdir + "/") for e in two] == [
        "file1.txt",
        "subdir1",
        "subdir1/subdir1_1",
        "subdir1/subdir1_2",
        "subdir2",
        "subdir2/a.txt",
    ]
    assert len(sbx.files.list(workdir, depth=5)) == 6


def test_list_entry_details(sbx: Sandbox, workdir: str) -> None:
    _file(Path(workdir) / "test.txt", "Hello, World!")
    _dir(Path(workdir) / "sub")
    entries = {e.name: e for e in sbx.files.list(workdir)}
    file, sub = entries["test.txt"], entries["sub"]
    assert (file.type, file.size, file.mode, file.permissions) == (
        FileType.FILE,
        13,
        0o644,
        "-rw-r--r--",
    )
    assert (file.owner, file.group) == (TEST_USER, _group())
    assert file.symlink_target is None
    assert abs(file.modified_time.timestamp() - time.time()) < 60
    assert (sub.type, sub.mode, sub.permissions) == (FileType.DIR, 0o755, "drwxr-xr-x")


def test_list_relative_path_is_under_home(sbx: Sandbox, workdir: str, home: str) -> None:
    _file(Path(workdir) / "x.txt")
    entries = sbx.files.list(os.path.relpath(workdir, home))
    assert [e.path for e in entries] == [f"{workdir}/x.txt"]


def test_list_errors(sbx: Sandbox, workdir: str) -> None:
    with pytest.raises(FileNotFoundException):
        sbx.files.list(f"{workdir}/missing")
    _file(Path(workdir) / "plain.txt")
    with pytest.raises(InvalidArgumentException, match="not a directory"):
        sbx.files.list(f"{workdir}/plain.txt")


def test_list_through_symlinked_dir_does_not_follow_inner_links(sbx: Sandbox, workdir: str) -> None:
    root = Path(workdir)
    _file(root / "real" / "f.txt")
    _own(root / "real")
    (root / "link").symlink_to(root / "real")
    (root / "real" / "self").symlink_to(root / "real")
    _own(root / "link")
    entries = sbx.files.list(f"{workdir}/link", depth=3)
    assert [e.path for e in entries] == [f"{workdir}/link/f.txt", f"{workdir}/link/self"]
    assert entries[1].type == FileType.SYMLINK


# files.exists / files.get_info


def test_exists(sbx: Sandbox, workdir: str) -> None:
    _file(Path(workdir) / "there.txt")
    assert sbx.files.exists(f"{workdir}/there.txt")
    assert sbx.files.exists(workdir)
    assert not sbx.files.exists(f"{workdir}/not-there.txt")
    assert not sbx.files.exists(f"{workdir}/there.txt/below")


def test_get_info_file_and_directory(sbx: Sandbox, workdir: str) -> None:
    _file(Path(workdir) / "test.txt", "test")
    info = sbx.files.get_info(f"{workdir}/test.txt")
    assert (info.name, info.type, info.path, info.size) == (
        "test.txt",
        FileType.FILE,
        f"{workdir}/test.txt",
        4,
    )
    assert (info.mode, info.permissions, info.owner, info.group) == (
        0o644,
        "-rw-r--r--",
        TEST_USER,
        _group(),
    )
    info = sbx.files.get_info(workdir)
    assert (info.name, info.type, info.mode, info.permissions) == (
        os.path.basename(workdir),
        FileType.DIR,
        0o755,
        "drwxr-xr-x",
    )
    with pytest.raises(FileNotFoundException):
        sbx.files.get_info(f"{workdir}/missing")


def test_get_info_symlinks(sbx: Sandbox, workdir: str) -> None:
    target = _file(Path(workdir) / "target.txt", "hi")
    link = Path(workdir) / "link.txt"
    link.symlink_to("target.txt")
    _own(link)
    info = sbx.files.get_info(str(link))
    assert info.type == FileType.SYMLINK
    assert info.symlink_target == str(target)
    assert info.path == str(link)
    assert (info.mode, info.permissions) == (0o644, "Lrwxrwxrwx")

    dangling = Path(workdir) / "dangling"
    dangling.symlink_to("nowhere")
    info = sbx.files.get_info(str(dangling))
    assert info.type == FileType.SYMLINK
    assert info.symlink_target == f"{workdir}/nowhere"
    assert [e.name for e in sbx.files.list(workdir)] == ["dangling", "link.txt", "target.txt"]


# files.make_dir / files.rename / files.remove


def test_make_dir(sbx: Sandbox, workdir: str) -> None:
    path = f"{workdir}/a/b/c"
    assert sbx.files.make_dir(path) is True
    assert sbx.files.make_dir(path) is False
    for created in (f"{workdir}/a", path):
        st = os.stat(created)
        assert st.st_uid == pwd.getpwnam(TEST_USER).pw_uid
        assert st.st_mode & 0o777 == 0o755
    _file(Path(workdir) / "file")
    with pytest.raises(InvalidArgumentException, match="not a directory"):
        sbx.files.make_dir(f"{workdir}/file")


def test_rename(sbx: Sandbox, workdir: str) -> None:
    _file(Path(workdir) / "old.txt", "content")
    info = sbx.files.rename(f"{workdir}/old.txt", f"{workdir}/new/dir/new.txt")
    assert (info.name, info.path, info.type, info.size) == (
        "new.txt",
        f"{workdir}/new/dir/new.txt",
        FileType.FILE,
        7,
    )
    assert not sbx.files.exists(f"{workdir}/old.txt")
    assert Path(workdir, "new/dir/new.txt").read_text() == "content"
    with pytest.raises(FileNotFoundException):
        sbx.files.rename(f"{workdir}/old.txt", f"{workdir}/other.txt")


def test_remove_file_tree_symlink_and_missing(sbx: Sandbox, workdir: str) -> None:
    root = Path(workdir)
    _file(root / "f.txt")
    _file(root / "tree" / "deep" / "er" / "x.txt")
    target = _file(root / "kept.txt")
    (root / "link").symlink_to(target)

    sbx.files.remove(f"{workdir}/f.txt")
    sbx.files.remove(f"{workdir}/tree")
    sbx.files.remove(f"{workdir}/link")
    assert sorted(os.listdir(workdir)) == ["kept.txt"]
    sbx.files.remove(f"{workdir}/never-was")  # like E2B (os.RemoveAll): not an error


# watch_dir


def _poll(handle: WatchHandle, wanted: set[Ev], timeout: float = 5.0) -> list[FilesystemEvent]:
    seen: list[FilesystemEvent] = []

    def check() -> bool:
        seen.extend(handle.get_new_events())
        return wanted <= {(e.type, e.name) for e in seen}

    assert _wait_for(check, timeout), (wanted, seen)
    return seen


def test_watch_dir_sync(sbx: Sandbox, workdir: str, envd: Envd) -> None:
    handle = sbx.files.watch_dir(workdir)
    assert _watches(envd, workdir) == 1
    path = Path(workdir) / "w.txt"
    path.write_text("one")
    with path.open("a") as f:
        f.write("two")
    path.chmod(0o600)
    path.unlink()
    events = _poll(
        handle,
        {
            (FilesystemEventType.CREATE, "w.txt"),
            (FilesystemEventType.WRITE, "w.txt"),
            (FilesystemEventType.CHMOD, "w.txt"),
            (FilesystemEventType.REMOVE, "w.txt"),
        },
    )
    assert events[0].type == FilesystemEventType.CREATE
    assert events[-1].type == FilesystemEventType.REMOVE
    assert all(e.entry is None for e in events)

    (Path(workdir) / "moved").write_text("")
    os.rename(Path(workdir) / "moved", Path(workdir) / "moved2")
    _poll(
        handle,
        {(FilesystemEventType.RENAME, "moved"), (FilesystemEventType.CREATE, "moved2")},
    )
    handle.stop()
    assert _watches(envd, workdir) == 0
    with pytest.raises(SandboxException):
        handle.get_new_events()
    with pytest.raises(NotFoundException):
        handle.stop()  # the watcher is gone on the server


def test_watch_dir_sync_recursive_with_entries(sbx: Sandbox, workdir: str) -> None:
    _dir(Path(workdir) / "existing")
    handle = sbx.files.watch_dir(workdir, recursive=True, include_entry=True)
    _file(Path(workdir) / "existing" / "a.txt", "abc")
    _dir(Path(workdir) / "new")
    _file(Path(workdir) / "new" / "b.txt", "b")
    events = _poll(
        handle,
        {
            (FilesystemEventType.CREATE, "existing/a.txt"),
            (FilesystemEventType.CREATE, "new"),
            (FilesystemEventType.CREATE, "new/b.txt"),  # maybe made before "new" was watched
        },
    )
    created = next(e for e in events if e.name == "existing/a.txt")
    assert created.entry is not None
    assert created.entry.path == f"{workdir}/existing/a.txt"
    assert created.entry.type == FileType.FILE
    new_dir = next(e for e in events if e.name == "new")
    assert new_dir.entry is not None and new_dir.entry.type == FileType.DIR

    os.unlink(Path(workdir) / "new" / "b.txt")
    os.rmdir(Path(workdir) / "new")
    events = _poll(
        handle,
        {(FilesystemEventType.REMOVE, "new/b.txt"), (FilesystemEventType.REMOVE, "new")},
    )
    removes = [e for e in events if e.type == FilesystemEventType.REMOVE]
    assert [e.name for e in removes] == ["new/b.txt", "new"]  # reported once, by the parent
    assert all(e.entry is None for e in removes)
    handle.stop()


def test_watch_dir_recursive_follows_moves(sbx: Sandbox, workdir: str, envd: Envd) -> None:
    root = Path(workdir)
    _file(root / "a" / "x" / "f.txt")
    _dir(root / "b")
    outside = root.parent / f"{root.name}-out"
    tree = [root, root / "a", root / "a" / "x", root / "b"]
    handle = sbx.files.watch_dir(workdir, recursive=True)
    assert _watches(envd, *tree) == 4

    os.rename(root / "a" / "x", root / "b" / "x")
    _poll(
        handle,
        {
            (FilesystemEventType.RENAME, "a/x"),
            (FilesystemEventType.CREATE, "b/x"),
            (FilesystemEventType.CREATE, "b/x/f.txt"),
        },
    )
    (root / "b" / "x" / "f.txt").write_text("moved")
    _poll(handle, {(FilesystemEventType.WRITE, "b/x/f.txt")})

    try:
        os.rename(root / "b" / "x", outside)
        _poll(handle, {(FilesystemEventType.RENAME, "b/x")})
        assert _wait_for(lambda: _watches(envd, outside) == 0)
        (outside / "f.txt").write_text("gone")
        time.sleep(0.2)
        assert handle.get_new_events() == []
    finally:
        handle.stop()
        shutil.rmtree(outside, ignore_errors=True)
    assert _watches(envd, root, root / "a", root / "b") == 0


def test_watch_dir_root_moved_or_removed(sbx: Sandbox, workdir: str, envd: Envd) -> None:
    _dir(Path(workdir) / "sub")
    handle = sbx.files.watch_dir(f"{workdir}/sub")
    os.rename(Path(workdir) / "sub", Path(workdir) / "sub2")
    _poll(handle, {(FilesystemEventType.RENAME, ".")})
    assert _wait_for(lambda: _watches(envd, f"{workdir}/sub2") == 0)  # a moved root is dropped
    handle.stop()

    handle = sbx.files.watch_dir(f"{workdir}/sub2", recursive=True)
    os.rmdir(Path(workdir) / "sub2")
    _poll(handle, {(FilesystemEventType.REMOVE, ".")})
    handle.stop()


def test_watch_dir_sync_errors(sbx: Sandbox, workdir: str) -> None:
    with pytest.raises(NotFoundException):
        sbx.files.watch_dir(f"{workdir}/missing")
    _file(Path(workdir) / "file.txt")
    with pytest.raises(InvalidArgumentException):
        sbx.files.watch_dir(f"{workdir}/file.txt")
    with pytest.raises(SandboxException, match="permission denied"):
        sbx.files.watch_dir("/root")


async def test_watch_dir_async(async_sbx: AsyncSandbox, workdir: str) -> None:
    _dir(Path(workdir) / "sub")
    seen: list[Ev] = []
    got_all = asyncio.Event()
    wanted = {
        (FilesystemEventType.CREATE, "top.txt"),
        (FilesystemEventType.CREATE, "sub/inner.txt"),
        (FilesystemEventType.WRITE, "sub/inner.txt"),
        (FilesystemEventType.CREATE, "later"),
        (FilesystemEventType.CREATE, "later/deep.txt"),
    }

    def on_event(event: FilesystemEvent) -> None:
        seen.append((event.type, event.name))
        if wanted <= set(seen):
            got_all.set()

    handle = await async_sbx.files.watch_dir(workdir, on_event=on_event, recursive=True)
    _file(Path(workdir) / "top.txt")
    _file(Path(workdir) / "sub" / "inner.txt", "data")
    _dir(Path(workdir) / "later")
    _file(Path(workdir) / "later" / "deep.txt")
    await asyncio.wait_for(got_all.wait(), 5)
    await handle.stop()


async def test_watch_dir_async_errors(async_sbx: AsyncSandbox, workdir: str) -> None:
    with pytest.raises(NotFoundException):
        await async_sbx.files.watch_dir(f"{workdir}/missing", on_event=lambda e: None)
    _file(Path(workdir) / "f")
    with pytest.raises(InvalidArgumentException):
        await async_sbx.files.watch_dir(f"{workdir}/f", on_event=lambda e: None)


async def test_watch_dir_async_deadline_releases_the_watch(
    async_sbx: AsyncSandbox, workdir: str, envd: Envd
) -> None:
    exits: list[Exception | None] = []
    handle = await async_sbx.files.watch_dir(
        workdir, on_event=lambda e: None, on_exit=exits.append, timeout=1
    )
    assert _watches(envd, workdir) == 1
    await asyncio.sleep(2)
    assert len(exits) == 1 and isinstance(exits[0], TimeoutException)
    assert await asyncio.to_thread(_wait_for, lambda: _watches(envd, workdir) == 0)
    await handle.stop()


# users and bad input


def test_user_switching(sbx: Sandbox) -> None:
    as_root = sbx.files.list("/root", user="root")
    assert {e.name for e in as_root} <= set(os.listdir("/root"))
    assert sbx.files.get_info("/root", user="root").owner == "root"
    with pytest.raises(SandboxException, match="permission denied"):
        sbx.files.list("/root")
    with pytest.raises(SandboxException, match="permission denied"):
        sbx.files.make_dir("/root/not-yours")
    assert not os.path.exists("/root/not-yours")


def test_files_made_as_root_belong_to_root(sbx: Sandbox, workdir: str) -> None:
    assert sbx.files.make_dir(f"{workdir}/by-root", user="root")
    assert sbx.files.get_info(f"{workdir}/by-root").owner == "root"
    with pytest.raises(SandboxException, match="permission denied"):
        sbx.files.make_dir(f"{workdir}/by-root/x")
    with pytest.raises(SandboxException, match="permission denied"):
        sbx.files.rename(f"{workdir}/by-root", f"{workdir}/by-root/../../../../etc/x")
    assert not os.path.exists("/etc/x")


def test_bad_input_gets_clean_errors(sbx: Sandbox, envd: Envd, home: str) -> None:
    with pytest.raises(SandboxException, match="permission denied"):
        sbx.files.list("../../root")
    with pytest.raises(SandboxException, match="permission denied"):
        sbx.files.get_info("../../root/.bashrc")
    with pytest.raises(InvalidArgumentException, match="NUL"):
        sbx.files.list("/tmp/a\x00b")
    with pytest.raises(InvalidArgumentException):
        sbx.files.remove("")
    with pytest.raises(InvalidArgumentException):
        sbx.files.rename("", "/tmp/x")
    assert {e.path for e in sbx.files.list("")} == {
        os.path.join(home, name) for name in os.listdir(home)
    }
    assert sbx.files.get_info("").path == home
    _alive(envd)
