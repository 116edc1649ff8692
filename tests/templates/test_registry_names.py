"""Image names, pull policies, auth files and error reasons (pure functions, no registry)."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from corral.templates.registry import (
    auth_file,
    explain_pull_error,
    from_images,
    is_loopback,
    normalize,
    pull_policy,
    redact,
    registry_of,
    tls_verify,
)

OFFLINE = ["docker.io/library/debian:bookworm"]


@pytest.mark.parametrize(
    ("name", "full"),
    [
        ("debian:bookworm", "docker.io/library/debian:bookworm"),
        ("debian", "docker.io/library/debian:latest"),
        ("e2bdev/base", "docker.io/e2bdev/base:latest"),
        ("docker.io/debian", "docker.io/library/debian:latest"),
        ("127.0.0.1:5000/corral/debian:bookworm", "127.0.0.1:5000/corral/debian:bookworm"),
        ("localhost/corral/build:x", "localhost/corral/build:x"),
        ("ghcr.io/o/i@sha256:" + "a" * 64, "ghcr.io/o/i@sha256:" + "a" * 64),
        ("[::1]:5000/x", "[::1]:5000/x:latest"),
    ],
)
def test_normalize(name: str, full: str) -> None:
    assert normalize(name) == full


def test_loopback_registries() -> None:
    assert is_loopback(registry_of("127.0.0.1:5000/a/b"))
    assert is_loopback(registry_of("localhost:5000/a/b"))
    assert is_loopback(registry_of("[::1]:5000/a/b"))
    assert not is_loopback(registry_of("debian:bookworm"))
    assert not is_loopback(registry_of("127.0.0.1.example.com/a"))


def test_from_images_skips_stages_and_scratch() -> None:
    dockerfile = (
        "FROM --platform=linux/amd64 golang:1.22 AS build\nRUN true\n"
        "from build AS again\nFROM scratch\nFROM 127.0.0.1:5000/x/y:z\n"
    )
    assert from_images(dockerfile) == ["golang:1.22", "127.0.0.1:5000/x/y:z"]


def test_pull_policy_never_asks_a_registry_for_images_made_here() -> None:
    assert pull_policy(["debian:bookworm"], OFFLINE) == "never"
    assert pull_policy(["localhost/corral/template:base"], OFFLINE) == "never"
    assert pull_policy(["debian:trixie"], OFFLINE) == "always"
    assert pull_policy(["127.0.0.1:5000/x:y", "debian:bookworm"], OFFLINE) == "always"


def test_plain_http_only_for_loopback_registries() -> None:
    assert not tls_verify(["127.0.0.1:5000/x:y"])
    assert tls_verify(["127.0.0.1:5000/x:y", "ghcr.io/a/b"])
    assert tls_verify(["localhost/corral/build:x"])


def test_auth_file_is_private_and_removed(tmp_path: Path) -> None:
    with auth_file(tmp_path, "127.0.0.1:5000", "u", "p:w") as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        auths = json.loads(path.read_text())["auths"]
        assert list(auths) == ["127.0.0.1:5000"]
        assert base64.b64decode(auths["127.0.0.1:5000"]["auth"]) == b"u:p:w"
    assert not path.exists()


def test_redact_and_explain() -> None:
    assert redact("echo hunter2 twice hunter2", ["hunter2", ""]) == "echo **** twice ****"
    raw = (
        "Error: creating build container: initializing source docker://r:1/a/b:c: "
        "reading manifest c in r:1/a/b: unauthorized: authentication required"
    )
    assert explain_pull_error(raw, True).startswith("the registry refused the credentials for r:1")
    assert explain_pull_error(raw, False).startswith("r:1/a/b:c needs registry credentials")
    assert explain_pull_error("exit status 7", False) == "exit status 7"
