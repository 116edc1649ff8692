"""`GET`/`POST /files` through the official SDK (files.read/write/write_files, download_url,
upload_url) against a real envd, plus the raw HTTP cases the SDK never produces.

The shared envd has an access token, so signed URLs are in play; the default user is the test
user, and `user="root"` acts as root.
"""

from __future__ import annotations

import gzip
import io
import os
import pwd
import stat
import time
from pathlib import Path

import httpx
import pytest
from e2b import (
    AsyncSandbox,
    AuthenticationException,
    FileNotFoundException,
    FileType,
    InvalidArgumentException,
    Sandbox,
    SandboxException,
)
from e2b.sandbox.signature import get_signature

from corral.envd.signing import signature
from tests.envd.conftest import TEST_USER, Envd, sdk_opts


def _owner(path: str | Path) -> str:
    return pwd.getpwuid(os.stat(path).st_uid).pw_name


def _auth(envd: Envd) -> dict[str, str]:
    return {"x-access-token": envd.token or ""}


def _url(envd: Envd, path: str, **params: str) -> str:
    return str(httpx.URL(f"{envd.url}/files", params={"path": path, **params}))


# --- reading and writing through the SDK -------------------------------------------------------


def test_write_and_read_text(sbx: Sandbox, workdir: str) -> None:
    path = f"{workdir}/hello.txt"
    info = sbx.files.write(path, "héllo wörld\n")
    assert (info.name, info.type, info.path) == ("hello.txt", FileType.FILE, path)
    assert info.metadata is None
    assert sbx.files.read(path) == "héllo wörld\n"
    assert Path(path).read_text() == "héllo wörld\n"


def test_bytes_round_trip_every_byte_value(sbx: Sandbox, workdir: str) -> None:
    data = bytes(range(256)) * 1000
    sbx.files.write(f"{workdir}/blob.bin", data)
    content = sbx.files.read(f"{workdir}/blob.bin", format="bytes")
    assert isinstance(content, bytearray)
    assert bytes(content) == data


def test_large_file_streams_both_ways(sbx: Sandbox, workdir: str) -> None:
    data = os.urandom(6 * 1024 * 1024 + 123)
    path = f"{workdir}/large.bin"
    sbx.files.write(path, io.BytesIO(data))  # file-like: streamed octet-stream upload
    assert Path(path).read_bytes() == data
    reader = sbx.files.read(path, format="stream")
    pieces = list(reader)
    assert len(pieces) > 1
    assert b"".join(pieces) == data


def test_iterable_upload(sbx: Sandbox, workdir: str) -> None:
    chunks = [b"a" * 70000, b"b" * 5, b"c" * 300000]
    sbx.files.write(f"{workdir}/chunks.bin", iter(chunks))
    assert Path(f"{workdir}/chunks.bin").read_bytes() == b"".join(chunks)


def test_empty_file(sbx: Sandbox, workdir: str) -> None:
    sbx.files.write(f"{workdir}/empty", b"")
    assert sbx.files.read(f"{workdir}/empty") == ""
    assert os.path.getsize(f"{workdir}/empty") == 0


def test_gzip_both_ways(sbx: Sandbox, workdir: str, envd: Envd) -> None:
    data = b"compressible line\n" * 100_000
    path = f"{workdir}/zipped.txt"
    sbx.files.write(path, data, gzip=True)
    assert Path(path).read_bytes() == data
    assert sbx.files.read(path, format="bytes", gzip=True) == data
    assert sbx.files.read(path, format="bytes") == data  # httpx asks for gzip by default too
    assert b"".join(sbx.files.read(path, format="stream", gzip=True)) == data

    with httpx.stream(
        "GET", _url(envd, path), headers={**_auth(envd), "accept-encoding": "gzip"}
    ) as r:
        raw = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    assert len(raw) < len(data) // 20
    assert gzip.decompress(raw) == data

    r = httpx.get(_url(envd, path), headers={**_auth(envd), "accept-encoding": "identity"})
    assert "content-encoding" not in r.headers
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-type"].startswith("text/plain")
    assert r.content == data


def test_gzip_multipart_body_is_inflated(envd: Envd, workdir: str) -> None:
    inner = httpx.Request(
        "POST", "http://x/", files={"file": (f"{workdir}/gz-multi.txt", b"inside")}
    )
    body = gzip.compress(inner.read())
    r = httpx.post(
        _url(envd, f"{workdir}/gz-multi.txt"),
        content=body,
        headers={
            **_auth(envd),
            "content-type": inner.headers["content-type"],
            "content-encoding": "gzip",
        },
    )
    assert r.status_code == 200, r.text
    assert Path(f"{workdir}/gz-multi.txt").read_bytes() == b"inside"


def test_write_files_several_in_one_request(sbx: Sandbox, workdir: str) -> None:
    infos = sbx.files.write_files(
        [
            {"path": f"{workdir}/one.txt", "data": "1"},
            {"path": f"{workdir}/sub/two.bin", "data": b"\x00\x02"},
            {"path": f"{workdir}/sub/deeper/three", "data": "3" * 100_000},
        ]
    )
    assert [i.path for i in infos] == [
        f"{workdir}/one.txt",
        f"{workdir}/sub/two.bin",
        f"{workdir}/sub/deeper/three",
    ]
    assert [i.name for i in infos] == ["one.txt", "two.bin", "three"]
    assert Path(f"{workdir}/one.txt").read_text() == "1"
    assert Path(f"{workdir}/sub/two.bin").read_bytes() == b"\x00\x02"
    assert Path(f"{workdir}/sub/deeper/three").read_text() == "3" * 100_000


def test_octet_stream_upload(sbx: Sandbox, workdir: str) -> None:
    info = sbx.files.write(f"{workdir}/octet.txt", "via octet-stream", use_octet_stream=True)
    assert info.path == f"{workdir}/octet.txt"
    assert sbx.files.read(f"{workdir}/octet.txt") == "via octet-stream"


def test_overwrite_truncates(sbx: Sandbox, workdir: str) -> None:
    sbx.files.write(f"{workdir}/over.txt", "a long first version")
    sbx.files.write(f"{workdir}/over.txt", "short")
    assert sbx.files.read(f"{workdir}/over.txt") == "short"


def test_relative_path_is_in_the_users_home(sbx: Sandbox, home: str) -> None:
    name = f"rel-{os.getpid()}-{time.monotonic_ns()}.txt"
    try:
        info = sbx.files.write(name, "relative")
        assert info.path == f"{home}/{name}"
        assert sbx.files.read(f"~/{name}") == "relative"
    finally:
        Path(home, name).unlink(missing_ok=True)


async def test_async_sdk_round_trip(async_sbx: AsyncSandbox, workdir: str) -> None:
    await async_sbx.files.write(f"{workdir}/async.txt", "from asyncio", metadata={"k": "v"})
    assert await async_sbx.files.read(f"{workdir}/async.txt") == "from asyncio"
    assert await async_sbx.files.read(f"{workdir}/async.txt", gzip=True) == "from asyncio"
    info = await async_sbx.files.get_info(f"{workdir}/async.txt")
    assert info.metadata == {"k": "v"}


# --- metadata -----------------------------------------------------------------------------------


def test_metadata_round_trip(sbx: Sandbox, workdir: str) -> None:
    path = f"{workdir}/meta.txt"
    info = sbx.files.write(path, "x", metadata={"Author": "me", "purpose": "a test"})
    assert info.metadata == {"author": "me", "purpose": "a test"}
    assert os.getxattr(path, "user.e2b.author") == b"me"
    assert sbx.files.get_info(path).metadata == {"author": "me", "purpose": "a test"}

    # An overwrite replaces the whole set: keys it does not name go away.
    info = sbx.files.write(path, "y", metadata={"purpose": "second"}, use_octet_stream=True)
    assert info.metadata == {"purpose": "second"}
    info = sbx.files.write(path, "z")
    assert info.metadata is None
    assert sbx.files.get_info(path).metadata is None


def test_metadata_applies_to_every_file_of_a_request(sbx: Sandbox, workdir: str) -> None:
    infos = sbx.files.write_files(
        [{"path": f"{workdir}/m1", "data": "1"}, {"path": f"{workdir}/m2", "data": "2"}],
        metadata={"batch": "7"},
    )
    assert [i.metadata for i in infos] == [{"batch": "7"}, {"batch": "7"}]


def test_invalid_metadata_is_rejected_before_writing(envd: Envd, workdir: str) -> None:
    path = f"{workdir}/bad-meta"
    r = httpx.post(
        _url(envd, path),
        content=b"data",
        headers={
            **_auth(envd),
            "content-type": "application/octet-stream",
            "x-metadata-big": "v" * 5000,
        },
    )
    assert r.status_code == 400
    assert r.json()["code"] == 400
    assert "metadata" in r.json()["message"]
    assert not os.path.exists(path)


# --- ownership, users and permissions -----------------------------------------------------------


def test_parent_dirs_are_created_and_owned_by_the_user(sbx: Sandbox, workdir: str) -> None:
    sbx.files.write(f"{workdir}/a/b/c/file.txt", "deep")
    for directory in ("a", "a/b", "a/b/c"):
        st = os.stat(f"{workdir}/{directory}")
        assert stat.S_ISDIR(st.st_mode)
        assert _owner(f"{workdir}/{directory}") == TEST_USER
        assert stat.S_IMODE(st.st_mode) == 0o755 & ~_umask()
    assert _owner(f"{workdir}/a/b/c/file.txt") == TEST_USER


def _umask() -> int:
    """The umask envd inherits (the test process's own)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_root_writes_a_root_owned_file(sbx: Sandbox, workdir: str) -> None:
    sbx.files.write(f"{workdir}/rootdir/by-root.txt", "r", user="root")
    assert _owner(f"{workdir}/rootdir/by-root.txt") == "root"
    assert _owner(f"{workdir}/rootdir") == "root"
    assert sbx.files.read(f"{workdir}/rootdir/by-root.txt", user="root") == "r"


def test_user_permissions_are_enforced(sbx: Sandbox, workdir: str, envd: Envd) -> None:
    secret = Path(workdir, "secret")
    secret.write_text("root only")
    secret.chmod(0o600)  # owned by root (the test process)
    with pytest.raises(SandboxException, match="permission denied"):
        sbx.files.read(str(secret))
    assert sbx.files.read(str(secret), user="root") == "root only"
    r = httpx.get(_url(envd, str(secret)), headers=_auth(envd))
    assert r.status_code == 403
    assert r.json() == {"code": 403, "message": r.json()["message"]}

    with pytest.raises(SandboxException, match="permission denied"):
        sbx.files.write("/root/not-yours.txt", "x")
    assert not os.path.exists("/root/not-yours.txt")


def test_unknown_user_is_an_authentication_error(sbx: Sandbox, workdir: str) -> None:
    with pytest.raises(AuthenticationException):
        sbx.files.read(f"{workdir}/x", user="no-such-user-here")
    with pytest.raises(AuthenticationException):
        sbx.files.write(f"{workdir}/x", "x", user="no-such-user-here")


# --- errors -------------------------------------------------------------------------------------


def test_read_missing_file(sbx: Sandbox, workdir: str, envd: Envd) -> None:
    with pytest.raises(FileNotFoundException):
        sbx.files.read(f"{workdir}/missing.txt")
    with pytest.raises(FileNotFoundException):
        sbx.files.read(f"{workdir}/missing/deeper.txt", format="stream")
    r = httpx.get(_url(envd, f"{workdir}/missing.txt"), headers=_auth(envd))
    assert r.status_code == 404
    assert r.json() == {"code": 404, "message": f"path '{workdir}/missing.txt' does not exist"}


def test_read_a_directory(sbx: Sandbox, workdir: str) -> None:
    with pytest.raises(InvalidArgumentException, match="is a directory"):
        sbx.files.read(workdir)


def test_write_onto_a_directory(sbx: Sandbox, workdir: str) -> None:
    os.mkdir(f"{workdir}/adir")
    with pytest.raises(InvalidArgumentException, match="is a directory"):
        sbx.files.write(f"{workdir}/adir", "x")
    Path(workdir, "afile").write_text("")
    with pytest.raises(InvalidArgumentException, match="is a file"):
        sbx.files.write(f"{workdir}/afile/child", "x")


def test_wrong_token_is_rejected(envd: Envd, workdir: str) -> None:
    sbx = Sandbox(**sdk_opts(envd, token="wrong-token"))  # type: ignore[arg-type]
    Path(workdir, "t.txt").write_text("t")
    with pytest.raises(AuthenticationException):
        sbx.files.read(f"{workdir}/t.txt")
    with pytest.raises(AuthenticationException):
        sbx.files.write(f"{workdir}/t.txt", "overwritten")
    assert Path(workdir, "t.txt").read_text() == "t"


def test_no_token_and_no_signature_is_401(envd: Envd, workdir: str) -> None:
    r = httpx.get(_url(envd, f"{workdir}/x"))
    assert r.status_code == 401
    assert r.json() == {"code": 401, "message": "missing signature query parameter"}
    r = httpx.post(_url(envd, f"{workdir}/x"), files={"file": ("x", b"x")})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("headers", "params", "message"),
    [
        ({"content-type": "application/octet-stream"}, {}, "path query parameter is required"),
        ({"content-type": "text/plain"}, {"path": "/tmp/x"}, "unsupported content type"),
        ({"content-type": "multipart/form-data"}, {"path": "/tmp/x"}, "boundary"),
        (
            {"content-type": "application/octet-stream", "content-encoding": "br"},
            {"path": "/tmp/x"},
            "unsupported Content-Encoding",
        ),
        (
            {"content-type": "application/octet-stream", "content-encoding": "gzip"},
            {"path": "/tmp/corral-not-gzip"},
            "decompressing",
        ),
    ],
)
def test_bad_uploads_are_400(
    envd: Envd, headers: dict[str, str], params: dict[str, str], message: str
) -> None:
    r = httpx.post(
        f"{envd.url}/files",
        params=params,
        content=b"not gzip at all",
        headers={**_auth(envd), **headers},
    )
    assert r.status_code == 400, r.text
    assert message in r.json()["message"]
    assert not os.path.exists("/tmp/corral-not-gzip")  # refused before the file was made


def test_multipart_two_parts_to_one_path_is_400(envd: Envd, workdir: str) -> None:
    files = [("file", (f"{workdir}/dup", b"first")), ("file", (f"{workdir}/dup", b"second"))]
    r = httpx.post(f"{envd.url}/files", files=files, headers=_auth(envd))
    assert r.status_code == 400
    assert "multiple files to the same path" in r.json()["message"]
    assert Path(workdir, "dup").read_bytes() == b"first"


def test_multipart_path_query_overrides_the_filename(envd: Envd, workdir: str) -> None:
    files = [("other", ("ignored-field", b"skip me")), ("file", ("whatever.txt", b"body"))]
    r = httpx.post(_url(envd, f"{workdir}/chosen.txt"), files=files, headers=_auth(envd))
    assert r.status_code == 200, r.text
    assert r.json() == [{"name": "chosen.txt", "type": "file", "path": f"{workdir}/chosen.txt"}]
    assert Path(workdir, "chosen.txt").read_bytes() == b"body"
    assert not Path(workdir, "whatever.txt").exists()


def test_truncated_multipart_body_is_400(envd: Envd, workdir: str) -> None:
    request = httpx.Request("POST", "http://x/", files={"file": (f"{workdir}/cut", b"x" * 1000)})
    body = request.read()
    r = httpx.post(
        f"{envd.url}/files",
        content=body[:-40],
        headers={**_auth(envd), "content-type": request.headers["content-type"]},
    )
    assert r.status_code == 400
    assert "unexpected end" in r.json()["message"]


def test_range_requests(envd: Envd, workdir: str) -> None:
    Path(workdir, "digits").write_bytes(b"0123456789")
    url = _url(envd, f"{workdir}/digits")
    r = httpx.get(url, headers={**_auth(envd), "range": "bytes=2-5"})
    assert (r.status_code, r.content, r.headers["content-range"]) == (206, b"2345", "bytes 2-5/10")
    r = httpx.get(url, headers={**_auth(envd), "range": "bytes=-3"})
    assert (r.status_code, r.content) == (206, b"789")
    r = httpx.get(url, headers={**_auth(envd), "range": "bytes=20-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */10"
    r = httpx.get(url, headers={**_auth(envd), "accept-encoding": "identity"})
    modified = r.headers["last-modified"]
    r = httpx.get(url, headers={**_auth(envd), "if-modified-since": modified})
    assert (r.status_code, r.content) == (304, b"")


def test_proc_files_are_sent_whole(sbx: Sandbox) -> None:
    """/proc files report size 0; they are streamed to their end instead."""
    assert sbx.files.read("/proc/self/status").startswith("Name:")


# --- signed URLs --------------------------------------------------------------------------------


def test_signature_matches_the_sdk_and_the_documented_vector() -> None:
    expected = "v1_RXoTfv8fZov6wEk3x1MtXvBzDRAir30QpELBhgDwaYY"
    assert signature("/home/user/a.txt", "read", "", "envdtok") == expected
    sdk = get_signature("/p", "write", "root", "tok", 60)
    assert sdk["expiration"] is not None
    assert signature("/p", "write", "root", "tok", sdk["expiration"]) == sdk["signature"]


@pytest.mark.parametrize("expiration", [None, 120])
def test_signed_download_url(sbx: Sandbox, workdir: str, expiration: int | None) -> None:
    Path(workdir, "dl.txt").write_text("download me")
    url = sbx.download_url(f"{workdir}/dl.txt", use_signature_expiration=expiration)
    assert "signature=v1_" in url
    assert ("signature_expiration=" in url) == (expiration is not None)
    r = httpx.get(url)  # no token header: the signature alone grants access
    assert r.status_code == 200
    assert r.text == "download me"


def test_signed_download_url_as_root(sbx: Sandbox, workdir: str) -> None:
    secret = Path(workdir, "root-secret")
    secret.write_text("for root")
    secret.chmod(0o600)
    assert httpx.get(sbx.download_url(str(secret), user="root")).text == "for root"
    assert httpx.get(sbx.download_url(str(secret))).status_code == 403


@pytest.mark.parametrize("expiration", [None, 120])
def test_signed_upload_url(sbx: Sandbox, workdir: str, expiration: int | None) -> None:
    path = f"{workdir}/up-{expiration}.txt"
    url = sbx.upload_url(path, use_signature_expiration=expiration)
    r = httpx.post(url, files={"file": ("any-name", b"uploaded")})
    assert r.status_code == 200, r.text
    assert r.json()[0]["path"] == path
    assert Path(path).read_bytes() == b"uploaded"
    assert _owner(path) == TEST_USER


def test_expired_signature_is_401(envd: Envd, workdir: str) -> None:
    path = f"{workdir}/old.txt"
    Path(path).write_text("old")
    signed = get_signature(path, "read", None, envd.token, -5)
    params = {"signature": signed["signature"], "signature_expiration": str(signed["expiration"])}
    r = httpx.get(_url(envd, path, **params))
    assert r.status_code == 401
    assert r.json() == {"code": 401, "message": "signature is already expired"}


def test_signature_is_bound_to_path_operation_and_user(sbx: Sandbox, workdir: str) -> None:
    Path(workdir, "a").write_text("a")
    Path(workdir, "b").write_text("b")
    url = sbx.download_url(f"{workdir}/a")
    assert httpx.get(url.replace("%2Fa&", "%2Fb&")).status_code == 401
    assert httpx.post(url, files={"file": ("a", b"overwrite")}).status_code == 401
    assert httpx.get(url + "&username=root").status_code == 401  # signed for the default user
    tampered = sbx.download_url(f"{workdir}/a", use_signature_expiration=60)
    later = int(tampered.rsplit("=", 1)[1]) + 1000
    assert httpx.get(f"{tampered.rsplit('=', 1)[0]}={later}").status_code == 401


def test_header_token_takes_precedence_over_a_signature(sbx: Sandbox, workdir: str) -> None:
    Path(workdir, "p.txt").write_text("p")
    url = sbx.download_url(f"{workdir}/p.txt")
    assert httpx.get(url, headers={"x-access-token": "wrong"}).status_code == 401


def test_malformed_expiration_is_400(envd: Envd, workdir: str) -> None:
    r = httpx.get(_url(envd, f"{workdir}/x", signature="v1_x", signature_expiration="soon"))
    assert r.status_code == 400


def _open_fds_to(envd: Envd, target: str) -> int:
    count = 0
    for fd in Path(f"/proc/{envd.proc.pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == target
        except OSError:
            continue
    return count


def test_devices_and_fifos(sbx: Sandbox, workdir: str) -> None:
    assert sbx.files.read("/dev/null") == ""
    os.mkfifo(f"{workdir}/fifo")
    with pytest.raises(InvalidArgumentException, match="not a regular file"):
        sbx.files.read(f"{workdir}/fifo")


def test_abandoned_download_releases_the_file(sbx: Sandbox, envd: Envd) -> None:
    """An endless device read stops, and its descriptor is closed, once the client leaves."""
    with sbx.files.read("/dev/zero", format="stream") as reader:
        for _, piece in zip(range(3), reader, strict=False):
            assert set(piece) == {0}
        assert _open_fds_to(envd, "/dev/zero") == 1
    deadline = time.monotonic() + 10
    while _open_fds_to(envd, "/dev/zero") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_fds_to(envd, "/dev/zero") == 0
    assert sbx.files.read("/dev/null") == ""


def test_write_files_with_unusual_names(sbx: Sandbox, workdir: str) -> None:
    """Several files go by their multipart filenames (no `?path=`): spaces and UTF-8 survive."""
    names = ["with space.txt", "ünïcødé.txt", "semi;colon=eq.txt"]
    infos = sbx.files.write_files([{"path": f"{workdir}/{n}", "data": n} for n in names])
    assert [i.name for i in infos] == names
    for name in names:
        assert Path(workdir, name).read_text() == name
        assert sbx.files.read(f"{workdir}/{name}") == name
