"""Base images on registries: names as buildah reads them, how a build may pull, credentials.

A build asks a registry only for images the node did not make itself (templates and offline
bases are `--pull=never`, so an offline node never tries the network for them). Registry images
are pulled with `--pull=always`: the registry then checks the credentials on every build, so an
image one build pulled with a team's credentials is never served from the node's storage to a
build without them (layers already stored are not downloaded again; only the manifest is).

Credentials reach buildah in an auth file (mode 0600, outside the build context, removed when
the build ends) keyed by the one registry they are for: never on a command line, which every
user of the host can read in /proc, never in a log, and never sent to another registry.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from corral.templates.spec import BuildSpec

DOCKER_HUB = "docker.io"
PULL_ERROR = re.compile(
    r"initializing source docker://(\S+?): (?:reading manifest \S+ in \S+: )?(.*)$"
)


def normalize(name: str) -> str:
    """`debian:bookworm` → `docker.io/library/debian:bookworm`: a short name's registry is
    Docker Hub, as buildah resolves it here (no search through other registries)."""
    first, _, rest = name.partition("/")
    if not rest or not ("." in first or ":" in first or first == "localhost"):
        first, rest = DOCKER_HUB, name
    if first == DOCKER_HUB and "/" not in rest:
        rest = f"library/{rest}"
    last = rest.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        rest += ":latest"
    return f"{first}/{rest}"


def registry_of(name: str) -> str:
    """The registry (`host[:port]`) an image name points at."""
    return normalize(name).split("/", 1)[0]


def is_loopback(registry: str) -> bool:
    if registry.startswith("["):
        host = registry[1 : registry.find("]")]
    else:
        host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def from_images(containerfile: str) -> list[str]:
    """The images a Containerfile's FROM lines name (not `scratch`, not its own stages)."""
    images: list[str] = []
    stages: set[str] = set()
    for line in containerfile.splitlines():
        words = line.split()
        if len(words) < 2 or words[0].upper() != "FROM":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if not args:
            continue
        if len(args) >= 3 and args[1].upper() == "AS":
            stages.add(args[2].lower())
        if args[0].lower() not in stages and args[0] != "scratch":
            images.append(args[0])
    return images


def pull_policy(images: Iterable[str], local: Iterable[str]) -> str:
    """`never` when every image is one the node made (`localhost/…`, or an offline base listed
    in `local`), else `always` (see the module docstring)."""
    made_here = {normalize(name) for name in local}
    remote = [i for i in images if not i.startswith("localhost/") and normalize(i) not in made_here]
    return "always" if remote else "never"


def tls_verify(images: Iterable[str]) -> bool:
    """Plain HTTP only when every registry asked is on loopback (a local test registry)."""
    registries = [registry_of(i) for i in images if not i.startswith("localhost/")]
    return not registries or not all(is_loopback(r) for r in registries)


@contextmanager
def auth_file(directory: Path, registry: str, username: str, password: str) -> Iterator[Path]:
    """A containers-auth.json with one registry's credentials, for the length of a build."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f".auth-{secrets.token_hex(8)}.json"
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump({"auths": {registry: {"auth": token}}}, out)
        yield path
    finally:
        path.unlink(missing_ok=True)


def redact(text: str, hidden: Iterable[str]) -> str:
    """`text` with every secret in `hidden` replaced (a registry that echoes what it was sent
    must not put a password into a build log)."""
    for secret in hidden:
        if secret:
            text = text.replace(secret, "****")
    return text


def explain_pull_error(reason: str, with_credentials: bool) -> str:
    """buildah's pull error as a reason a user can act on (its own words kept at the end)."""
    match = PULL_ERROR.search(reason)
    if match is None:
        return reason
    image, cause = match.group(1), match.group(2)
    lowered = cause.lower()
    if "unauthorized" in lowered or "authentication required" in lowered or "denied" in lowered:
        if with_credentials:
            return f"the registry refused the credentials for {image} ({cause})"
        return f"{image} needs registry credentials (fromImageRegistry) ({cause})"
    if "manifest unknown" in lowered or "not found" in lowered:
        return f"image {image} was not found on its registry ({cause})"
    return f"pulling {image} failed: {cause}"


@dataclass(frozen=True)
class PullAccess:
    """How one buildah build reaches registries."""

    pull: str
    tls_verify: bool
    authfile: Path | None
    hidden: tuple[str, ...]
    """What must never reach a log: the password, and the token made of it."""

    def redact(self, text: str) -> str:
        return redact(text, self.hidden)


@contextmanager
def pull_access(
    images: list[str], local: Iterable[str], spec: BuildSpec, directory: Path
) -> Iterator[PullAccess]:
    """For a build whose FROM lines name `images`: its pull policy, TLS, and the auth file with
    `fromImageRegistry`'s credentials for `fromImage`'s registry (kept in `directory`, outside
    the build context, for as long as the build runs)."""
    pull = pull_policy(images, local)
    creds = spec.from_image_registry
    if creds is None or not creds.username or not spec.from_image or pull == "never":
        yield PullAccess(pull, tls_verify(images), None, ())
        return
    password = creds.password or ""
    token = base64.b64encode(f"{creds.username}:{password}".encode()).decode()
    with auth_file(directory, registry_of(spec.from_image), creds.username, password) as path:
        yield PullAccess(pull, tls_verify(images), path, (password, token))
