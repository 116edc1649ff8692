"""`fromImage` on a registry: the builder pulls it (with `fromImageRegistry` credentials for a
private one) from a real `docker-registry` on loopback. Image names are always fully qualified
with 127.0.0.1, so buildah never asks any other registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.templates.conftest import MakeBuilder, finish
from tests.templates.registry import Registry

pytestmark = pytest.mark.root


def _files_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


async def test_public_image_is_pulled(make_builder: MakeBuilder, public_registry: Registry) -> None:
    builder = await make_builder()
    image = public_registry.image()
    state = await finish(
        builder, "b-pub", {"fromImage": image, "steps": [{"type": "RUN", "args": ["true"]}]}
    )
    assert state.status == "ready", state.reason
    messages = [e.message for e in state.logs]
    assert any("Copying blob" in m for m in messages), messages
    assert any(image in m for m in messages)
    built = builder.templates.find("b-pub")
    assert built is not None and (built.rootfs / "etc" / "debian_version").is_file()
    assert (built.rootfs / "home" / "user").is_dir()


async def test_private_image_needs_the_right_credentials(
    make_builder: MakeBuilder, private_registry: Registry, tmp_path: Path
) -> None:
    builder = await make_builder()
    image = private_registry.image()
    assert private_registry.password is not None
    wrong = {"type": "registry", "username": private_registry.username, "password": "nope-x1"}
    right = {
        "type": "registry",
        "username": private_registry.username,
        "password": private_registry.password,
    }

    anonymous = await finish(builder, "b-anon", {"fromImage": image})
    assert anonymous.status == "error"
    assert f"{image} needs registry credentials" in (anonymous.reason or ""), anonymous.reason

    denied = await finish(builder, "b-wrong", {"fromImage": image, "fromImageRegistry": wrong})
    assert denied.status == "error"
    assert f"the registry refused the credentials for {image}" in (denied.reason or "")
    assert builder.templates.find("b-wrong") is None

    allowed = await finish(builder, "b-right", {"fromImage": image, "fromImageRegistry": right})
    assert allowed.status == "ready", allowed.reason
    assert builder.templates.find("b-right") is not None

    # Pulled once with credentials, the image is in the node's storage: a build without them
    # must still be refused (the registry is asked every time), not served from that copy.
    again = await finish(builder, "b-anon-again", {"fromImage": image})
    assert again.status == "error", "a private image was used without credentials"

    recorded = _files_text(tmp_path / "builds") + _files_text(tmp_path / "work")
    for state in (anonymous, denied, allowed, again):
        recorded += "\n".join(e.message for e in state.logs) + (state.reason or "")
    assert private_registry.password not in recorded
    assert "nope-x1" not in recorded
    assert not list((tmp_path / "work").glob("*auth*")), "the auth file outlived its build"


async def test_unknown_image_fails_with_a_reason(
    make_builder: MakeBuilder, private_registry: Registry
) -> None:
    builder = await make_builder()
    creds = {
        "type": "registry",
        "username": private_registry.username,
        "password": private_registry.password,
    }
    state = await finish(
        builder,
        "b-missing",
        {"fromImage": private_registry.image("corral/nothing:here"), "fromImageRegistry": creds},
    )
    assert state.status == "error"
    missing = private_registry.image("corral/nothing:here")
    assert f"image {missing} was not found on its registry" in (state.reason or ""), state.reason


async def test_offline_base_image_is_never_pulled(
    make_builder: MakeBuilder, base_rootfs: Path
) -> None:
    """`FROM debian:bookworm` is the node's own debootstrap image: built with `--pull=never`,
    so no registry is asked (this host may have none in reach)."""
    builder = await make_builder()
    builder.offline_images["docker.io/library/debian:bookworm"] = base_rootfs
    state = await finish(builder, "b-offline", {"fromImage": "debian:bookworm"})
    assert state.status == "ready", state.reason
    assert not any("Trying to pull" in e.message for e in state.logs)
