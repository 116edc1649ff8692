"""Template builds through the official SDK's `Template.build` and the REST API, against
`corral up`: what a build makes is what `Sandbox.create(<name>)` starts from.

Base images are local only (the `base` template and its Debian image): nothing here may pull
from a registry off this machine.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from e2b import BuildException, Sandbox, Template, wait_for_port

from tests.e2e.conftest import Platform

pytestmark = [pytest.mark.slow, pytest.mark.root]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _api(platform: Platform) -> httpx.Client:
    return httpx.Client(
        base_url=platform.exports["E2B_API_URL"],
        headers={"X-API-KEY": platform.exports["E2B_API_KEY"]},
        timeout=30,
    )


def _wait(api: httpx.Client, template_id: str, build_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = api.get(f"/templates/{template_id}/builds/{build_id}/status").json()
        if status["status"] in ("ready", "error"):
            return dict(status)
        time.sleep(0.3)
    raise AssertionError("the build did not end")


def test_sdk_build_then_create(sdk_env: dict[str, str], tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "lib").mkdir(parents=True)
    (app / "main.py").write_text("print('main')\n")
    (app / "data.txt").write_text("payload\n")
    (app / "lib" / "util.py").write_text("X = 1\n")
    name = _name("sdk")
    template = (
        Template(file_context_path=str(tmp_path))
        .from_base_image()
        .run_cmd("echo built > /tmp/built.txt")
        .copy("app", "/home/user/app")
        .set_envs({"GREETING": "hello template", "MODE": "test"})
        .run_cmd("mkdir -p /srv/data && echo from-root > /srv/data/f", user="root")
        .set_workdir("/home/user/app")
        .set_user("user")
        .set_start_cmd("python3 -m http.server 8080", wait_for_port(8080))
    )
    logs: list[str] = []
    info = Template.build(template, name, on_build_logs=lambda e: logs.append(e.message))
    assert info.template_id and info.build_id
    assert any("Template ready" in line for line in logs)

    sbx = Sandbox.create(name)
    try:
        run = sbx.commands.run
        assert run("pwd").stdout.strip() == "/home/user/app"
        assert run("whoami").stdout.strip() == "user"
        assert run("echo $GREETING/$MODE").stdout.strip() == "hello template/test"
        assert sorted(run("ls -R /home/user/app").stdout.split()) == sorted(
            ["/home/user/app:", "data.txt", "lib", "main.py", "/home/user/app/lib:", "util.py"]
        )
        assert sbx.files.read("/home/user/app/data.txt") == "payload\n"
        assert run("stat -c %U /home/user/app/main.py").stdout.strip() == "user"
        assert run("cat /srv/data/f /tmp/built.txt").stdout.split() == ["from-root", "built"]
        # The start command runs in every new sandbox and was ready before create returned.
        page = run(
            "python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/').status)\""
        )
        assert page.stdout.strip() == "200"
    finally:
        sbx.kill()


def test_rebuild_uses_the_cache_and_a_changed_step_reruns_from_there(
    sdk_env: dict[str, str],
) -> None:
    name = _name("cache")
    marker = uuid.uuid4().hex

    def template(last: str) -> Template:
        return (
            Template()
            .from_base_image()
            .run_cmd(f"echo first-{marker} > /tmp/first")
            .run_cmd(f"echo second-{last} > /tmp/second")
        )

    def build(last: str) -> list[str]:
        lines: list[str] = []
        Template.build(template(last), name, on_build_logs=lambda e: lines.append(e.message))
        return lines

    first = build("a")
    assert any("STEP" in line and f"first-{marker}" in line for line in first)
    again = build("a")
    run_steps = [line for line in again if line.startswith("STEP") and "RUN" in line]
    cached = [line for line in again if "Using cache" in line]
    assert len(cached) >= len(run_steps) > 0
    assert not any(line.strip() == f"first-{marker}" for line in again)  # no RUN output
    changed = build("b")
    # The first RUN came from the cache, the changed second one ran.
    first_index = next(i for i, line in enumerate(changed) if f"first-{marker}" in line)
    assert "Using cache" in changed[first_index + 1]
    assert any("second-b" in line and not line.startswith("STEP") for line in changed) or any(
        "second-b" in line for line in changed
    )
    sbx = Sandbox.create(name)
    try:
        assert sbx.commands.run("cat /tmp/second").stdout.strip() == "second-b"
    finally:
        sbx.kill()


def test_failing_run_ends_in_error_and_leaves_no_template(sdk_env: dict[str, str]) -> None:
    name = _name("fail")
    template = Template().from_base_image().run_cmd("echo about-to-fail && exit 3")
    with pytest.raises(BuildException) as raised:
        Template.build(template, name)
    assert "exit status 3" in str(raised.value)
    with pytest.raises(Exception, match="not found"):
        Sandbox.create(name)


def test_unknown_base_image_fails(sdk_env: dict[str, str]) -> None:
    # A registry on loopback where nothing listens: the pull fails without leaving this host.
    template = Template().from_image("127.0.0.1:9/corral-test/none:latest").run_cmd("true")
    with pytest.raises(BuildException, match=r"127\.0\.0\.1:9"):
        Template.build(template, _name("nobase"))


def test_ready_command_that_never_succeeds_times_out(sdk_env: dict[str, str]) -> None:
    name = _name("notready")
    template = Template().from_base_image().set_start_cmd("sleep 1000", "test -f /nonexistent")
    with pytest.raises(BuildException, match="ready command did not succeed"):
        Template.build(template, name)
    with pytest.raises(Exception, match="not found"):
        Sandbox.create(name)


def test_copy_of_files_never_uploaded_fails(platform: Platform) -> None:
    with _api(platform) as api:
        made = api.post("/v3/templates", json={"name": _name("nofiles")})
        assert made.status_code == 202, made.text
        ids = made.json()
        start = api.post(
            f"/v2/templates/{ids['templateID']}/builds/{ids['buildID']}",
            json={"steps": [{"type": "COPY", "args": ["a", "/a"], "filesHash": "f" * 64}]},
        )
        assert start.status_code == 202, start.text
        status = _wait(api, ids["templateID"], ids["buildID"])
    assert status["status"] == "error"
    assert "never uploaded" in status["reason"]["message"]  # type: ignore[index]


def test_legacy_dockerfile_build(platform: Platform, sdk_env: dict[str, str]) -> None:
    name = _name("docker")
    dockerfile = "\n".join(
        [
            "FROM debian:bookworm",
            "RUN echo from-dockerfile > /etc/corral-test",
            "ENV FROM_DOCKERFILE=yes",
        ]
    )
    with _api(platform) as api:
        made = api.post("/templates", json={"dockerfile": dockerfile, "alias": name})
        assert made.status_code == 202, made.text
        body = made.json()
        status = _wait(api, body["templateID"], body["buildID"])
        assert status["status"] == "ready", status
    sbx = Sandbox.create(name)
    try:
        out = sbx.commands.run("cat /etc/corral-test; echo $FROM_DOCKERFILE; whoami")
        assert out.stdout.split() == ["from-dockerfile", "yes", "user"]
    finally:
        sbx.kill()


def test_bad_build_requests_are_refused(platform: Platform) -> None:
    with _api(platform) as api:
        assert api.post("/v3/templates", json={}).status_code == 400
        made = api.post("/v3/templates", json={"name": _name("bad")}).json()
        url = f"/v2/templates/{made['templateID']}/builds/{made['buildID']}"
        bad_steps = [
            {"steps": [{"type": "EXPLODE", "args": ["x"]}]},
            {"steps": [{"type": "RUN", "args": []}]},
            {"steps": [{"type": "COPY", "args": ["a", "b"]}]},
            {"fromTemplate": "no-such-template"},
        ]
        for body in bad_steps:
            answer = api.post(url, json=body)
            assert answer.status_code == 400, (body, answer.text)
            assert set(answer.json()) == {"code", "message"}
        # Nothing was started: the build still waits for a valid request.
        status = api.get(f"/templates/{made['templateID']}/builds/{made['buildID']}/status")
        assert status.json()["status"] == "waiting"
        unknown = api.get(f"/templates/{made['templateID']}/builds/{uuid.uuid4()}/status")
        assert unknown.status_code == 404


def test_delete_keeps_running_sandboxes_working(
    platform: Platform, sdk_env: dict[str, str]
) -> None:
    name = _name("del")
    Template.build(Template().from_base_image().run_cmd("echo kept > /tmp/kept"), name)
    sbx = Sandbox.create(name)
    try:
        with _api(platform) as api:
            template_id = next(
                t["templateID"] for t in api.get("/templates").json() if name in t["aliases"]
            )
            assert api.delete(f"/templates/{template_id}").status_code == 204
        # Its root filesystem stays for the sandbox that runs on it.
        assert sbx.commands.run("cat /tmp/kept").stdout.strip() == "kept"
        with pytest.raises(Exception, match="not found"):
            Sandbox.create(name)
    finally:
        sbx.kill()


def test_gvisor_templates_start_from_their_ready_snapshot(
    sdk_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    """Under gVisor a build saves its ready sandbox, and every sandbox of the template is
    restored from it: the start command's process is the one the build started (same pid,
    same start stamp in every sandbox). crun has no snapshots: each sandbox runs it anew."""
    runtime = request.node.callspec.params["platform"]
    name = _name("snap")
    template = (
        Template()
        .from_base_image()
        .set_start_cmd("date +%s%N > /tmp/started; exec sleep infinity", "test -s /tmp/started")
    )
    logs: list[str] = []
    Template.build(template, name, on_build_logs=lambda e: logs.append(e.message))
    assert any("snapshot" in line for line in logs) == (runtime == "runsc")
    stamps = []
    for _ in range(2):
        sbx = Sandbox.create(name)
        try:
            out = sbx.commands.run("cat /tmp/started; pgrep -x sleep").stdout.split()
            assert len(out) == 2, out
            stamps.append(out[0])
            sbx.files.write("/tmp/own", sbx.sandbox_id)  # each sandbox writes its own layer
            assert sbx.files.read("/tmp/own") == sbx.sandbox_id
        finally:
            sbx.kill()
    assert (stamps[0] == stamps[1]) == (runtime == "runsc")
