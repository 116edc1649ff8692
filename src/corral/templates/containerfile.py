"""E2B build steps → a Containerfile that buildah builds with its layer cache.

Every step becomes one instruction whose text depends only on the step (and the files' hash
for COPY), so buildah's `--layers` cache skips unchanged steps and re-runs from the first
changed one. A step with `force` gets a unique label before it: that changes the cache key
of it and of everything after it, as E2B's force does.
"""

from __future__ import annotations

import json
import posixpath
import secrets
from dataclasses import dataclass

from corral.templates.spec import DEFAULT_USER, DEFAULT_WORKDIR, BuildSpec, Step

PROVISION = r"""set -e
if ! id -u user >/dev/null 2>&1; then
  if command -v useradd >/dev/null 2>&1; then
    shell=$(command -v bash || echo /bin/sh)
    useradd -m -s "$shell" -u 1000 user 2>/dev/null || useradd -m user
  else
    adduser -D user
  fi
fi
mkdir -p /home/user && chown user /home/user
if [ ! -x /usr/bin/python3 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
  fi
fi
if [ ! -x /usr/bin/python3 ]; then
  echo "the image has no /usr/bin/python3, which envd needs" >&2; exit 1
fi
"""
"""Makes any Debian-like image a sandbox image: the `user` account and the python3 envd runs
on. Its text never changes, so it is one cached layer per base image."""


@dataclass(frozen=True)
class Rendered:
    text: str
    user: str
    """The user the last USER step left: the sandbox's default user."""
    workdir: str
    """The workdir the last WORKDIR step left: the sandbox's default working directory."""
    step_names: list[str]
    """Instruction number (buildah's `STEP n/m`) → E2B step name (`step-<i>`, `base`, …)."""


def files_dir(files_hash: str) -> str:
    """Where a COPY step's extracted archive sits in the build context."""
    return f"files/{files_hash}"


def _quote_env(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _exec(command: str) -> str:
    """RUN in exec form: the command text reaches `sh -c` unaltered (quotes, newlines)."""
    return "RUN " + json.dumps(["/bin/sh", "-c", command])


def _copy(step: Step, user: str) -> str:
    src, dest = step.args[0], step.args[1]
    owner = step.args[2] if len(step.args) > 2 and step.args[2] else user
    mode = step.args[3] if len(step.args) > 3 and step.args[3] else ""
    flags = [f"--chown={owner}"] + ([f"--chmod={mode}"] if mode else [])
    assert step.files_hash is not None
    source = f"{files_dir(step.files_hash)}/{src.lstrip('/')}"
    return "COPY " + " ".join(flags) + " " + json.dumps([source, dest])


def render(spec: BuildSpec, base_image: str) -> Rendered:
    """The Containerfile for a steps build from `base_image` (already resolved: pulled, local,
    or a template's image)."""
    lines = [f"FROM {base_image}", "USER root", _exec(PROVISION)]
    names = ["base", "base", "base"]
    user, workdir = DEFAULT_USER, DEFAULT_WORKDIR
    lines += [f"USER {user}", f"WORKDIR {workdir}"]
    names += ["base", "base"]
    for index, step in enumerate(spec.steps):
        name = f"step-{index}"
        if step.force:
            lines.append(f"LABEL corral.force.{index}={secrets.token_hex(8)}")
            names.append(name)
        if step.type == "RUN":
            as_user = step.args[1] if len(step.args) > 1 and step.args[1] else user
            if as_user != user:
                lines.append(f"USER {as_user}")
                names.append(name)
            lines.append(_exec(step.args[0]))
            names.append(name)
            if as_user != user:
                lines.append(f"USER {user}")
                names.append(name)
            continue
        if step.type == "COPY":
            lines.append(_copy(step, user))
        elif step.type == "ENV":
            pairs = zip(step.args[::2], step.args[1::2], strict=True)
            lines.append("ENV " + " ".join(f"{k}={_quote_env(v)}" for k, v in pairs))
        elif step.type == "ARG":
            lines.append("ARG " + " ".join(step.args))
        elif step.type == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, step.args[0]))
            lines.append(f"WORKDIR {workdir}")
        elif step.type == "USER":
            user = step.args[0]
            lines.append(f"USER {user}")
        names.append(name)
    return Rendered("\n".join(lines) + "\n", user, workdir, names)


def render_finish(image: str) -> str:
    """For a legacy Dockerfile build: provision the finished image (its last USER may not be
    root, and its accounts are only known after it is built)."""
    return f"FROM {image}\nUSER root\n{_exec(PROVISION)}\n"
