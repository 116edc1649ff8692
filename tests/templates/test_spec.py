from __future__ import annotations

import pytest

from corral.templates.containerfile import PROVISION, render
from corral.templates.errors import InvalidBuildSpec
from corral.templates.spec import parse_spec

HASH = "ab" * 32


def test_sdk_payload_parses_with_wire_keys() -> None:
    spec = parse_spec(
        {
            "fromImage": "debian:bookworm",
            "steps": [
                {"type": "RUN", "args": ["echo hi", "root"], "force": False},
                {"type": "COPY", "args": ["dir", "/app/dir", "", ""], "filesHash": HASH},
                {"type": "ENV", "args": ["A", "1", "B", "two words"]},
            ],
            "startCmd": "sleep 1",
            "readyCmd": "true",
            "force": True,
        }
    )
    assert spec.from_image == "debian:bookworm"
    assert spec.files_hashes() == [HASH]
    assert spec.force and spec.start_cmd == "sleep 1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"steps": [{"type": "EXPLODE", "args": []}]}, "steps.0.type"),
        ({"steps": [{"type": "RUN", "args": []}]}, "RUN step has 0 argument"),
        ({"steps": [{"type": "ENV", "args": ["A"]}]}, "ENV step has 1 argument"),
        ({"steps": [{"type": "COPY", "args": ["a", "b"]}]}, "COPY step needs filesHash"),
        ({"steps": [{"type": "COPY", "args": ["a", "b"], "filesHash": "../x"}]}, "filesHash"),
        ({"fromImage": "a", "fromTemplate": "b"}, "only one of"),
        ({"fromImageRegistry": {"type": "aws"}}, "not supported"),
    ],
)
def test_invalid_specs_say_what_is_wrong(raw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidBuildSpec, match=message):
        parse_spec(raw)


def test_render_tracks_user_and_workdir_and_runs_as_requested() -> None:
    spec = parse_spec(
        {
            "steps": [
                {"type": "WORKDIR", "args": ["/app"]},
                {"type": "WORKDIR", "args": ["sub"]},
                {"type": "RUN", "args": ["apt-get install -y x", "root"]},
                {"type": "USER", "args": ["alice"]},
                {"type": "COPY", "args": ["src/*.py", "/app/"], "filesHash": HASH},
                {"type": "COPY", "args": ["f", "/f", "bob:bob", "0755"], "filesHash": HASH},
                {"type": "ENV", "args": ["Q", 'say "hi"\\n']},
            ]
        }
    )
    out = render(spec, "localhost/base:1")
    lines = out.text.splitlines()
    assert lines[0] == "FROM localhost/base:1"
    assert out.user == "alice" and out.workdir == "/app/sub"
    # A RUN as another user switches there and back.
    run = lines.index('RUN ["/bin/sh", "-c", "apt-get install -y x"]')
    assert lines[run - 1] == "USER root" and lines[run + 1] == "USER user"
    assert f'COPY --chown=alice ["files/{HASH}/src/*.py", "/app/"]' in lines
    assert f'COPY --chown=bob:bob --chmod=0755 ["files/{HASH}/f", "/f"]' in lines
    assert 'ENV Q="say \\"hi\\"\\\\n"' in lines
    # buildah's STEP numbers map back to E2B step names.
    assert len(out.step_names) == len(lines)
    assert out.step_names[run] == "step-2"


def test_forced_step_changes_only_from_itself() -> None:
    steps = [{"type": "RUN", "args": ["a"]}, {"type": "RUN", "args": ["b"], "force": True}]
    first = render(parse_spec({"steps": steps}), "img").text
    second = render(parse_spec({"steps": steps}), "img").text
    assert first != second
    head = first.split("LABEL corral.force.1=")[0]
    assert second.startswith(head) and 'RUN ["/bin/sh", "-c", "a"]' in head


def test_provisioning_is_the_same_text_every_time() -> None:
    """The cache keys on instruction text: one provisioning layer per base image."""
    a = render(parse_spec({"steps": []}), "img").text
    b = render(parse_spec({"steps": [{"type": "RUN", "args": ["x"]}]}), "img").text
    assert a.splitlines()[:5] == b.splitlines()[:5]
    assert "useradd" in PROVISION
