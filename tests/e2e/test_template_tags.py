"""Template tags with the official SDK against `corral up`: `Template.build(..., tags=[...])`,
`Sandbox.create("name:tag")`, `Template.assign_tags` / `remove_tags` / `get_tags` / `exists`.

Two builds of one template from the local `base` (no registry): each tag starts the build it
names, checked by a file each build wrote.
"""

from __future__ import annotations

import uuid

import pytest
from e2b import Sandbox, Template, TemplateException

pytestmark = [pytest.mark.slow, pytest.mark.root]


def _version_of(ref: str) -> str:
    """What `/etc/version` says in a new sandbox of `ref` (the build that wrote it)."""
    sbx = Sandbox.create(ref)
    try:
        return sbx.commands.run("cat /etc/version").stdout.strip()
    finally:
        sbx.kill()


def test_tags_name_builds(sdk_env: dict[str, str]) -> None:
    name = f"tags-{uuid.uuid4().hex[:8]}"

    def template(version: str) -> Template:
        return Template().from_base_image().run_cmd(f"echo {version} > /etc/version", user="root")

    one = Template.build(template("one"), name, tags=["v1"])
    two = Template.build(template("two"), name, tags=["v2"])
    assert (one.tags, two.tags) == (["v1"], ["v2"])
    assert one.template_id == two.template_id and one.build_id != two.build_id

    assert _version_of(f"{name}:v1") == "one"
    assert _version_of(f"{name}:v2") == "two"
    # No build asked for `default`: the bare name starts the latest ready build.
    assert _version_of(name) == "two"
    assert Template.exists(f"{name}:v1") and not Template.exists(f"{name}:v9")

    # Assigning moves a tag to the build its target names now.
    assigned = Template.assign_tags(f"{name}:v1", "prod")
    assert (assigned.build_id, assigned.tags) == (one.build_id, ["prod"])
    assert _version_of(f"{name}:prod") == "one"
    assert Template.assign_tags(f"{name}:v2", ["prod", "stable"]).build_id == two.build_id
    assert _version_of(f"{name}:prod") == "two"
    tags = {t.tag: t.build_id for t in Template.get_tags(name)}
    assert tags == {
        "prod": two.build_id,
        "stable": two.build_id,
        "v1": one.build_id,
        "v2": two.build_id,
    }
    assert {t.tag for t in Template.get_tags(one.template_id)} == set(tags)

    Template.remove_tags(name, ["prod", "stable"])
    assert {t.tag for t in Template.get_tags(name)} == {"v1", "v2"}
    with pytest.raises(Exception, match="not found"):
        Sandbox.create(f"{name}:prod")
    with pytest.raises(TemplateException, match="cannot be removed"):
        Template.remove_tags(name, "default")
    with pytest.raises(TemplateException, match="not found"):
        Template.assign_tags(f"{name}:nope", "x")

    # A build with no tag takes `default`, which later tagged builds leave where it is.
    three = Template.build(template("three"), name)
    assert three.tags == ["default"]
    Template.build(template("four"), name, tags=["v4"])
    assert _version_of(name) == "three"
    assert _version_of(f"{name}:v4") == "four"
    assert _version_of(f"{name}:v1") == "one"
