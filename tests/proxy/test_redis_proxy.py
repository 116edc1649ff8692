"""The proxy reading routes from Redis, as when the API and the proxy are separate processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2b import SandboxNotRunningException

from corral.proxy.settings import ProxySettings
from tests.proxy.conftest import (
    RunningProxy,
    Sandbox,
    redis_catalog_factory,
    start_proxy,
    stop_proxy,
)
from tests.sdk import sdk_sandbox


@pytest.fixture(scope="module")
def redis_proxy(redis_url: str, sandbox_a: Sandbox, sandbox_b: Sandbox) -> Iterator[RunningProxy]:
    running = start_proxy(
        ProxySettings(host="127.0.0.1", port=0, catalog_url=redis_url),
        redis_catalog_factory(redis_url),
    )
    running.put(sandbox_a.route)
    running.put(sandbox_b.route)
    yield running
    stop_proxy(running)


def test_sdk_through_redis_routed_proxy(
    redis_proxy: RunningProxy, sandbox_a: Sandbox, sandbox_b: Sandbox
) -> None:
    a = sdk_sandbox(redis_proxy.url, sandbox_a.token, sandbox_a.sandbox_id)
    b = sdk_sandbox(redis_proxy.url, sandbox_b.token, sandbox_b.sandbox_id)
    assert a.commands.run("echo from-a").stdout == "from-a\n"
    assert b.commands.run("echo from-b").stdout == "from-b\n"
    a.files.write("/tmp/corral-redis-proxy.txt", "via redis", user="root")
    assert b.files.read("/tmp/corral-redis-proxy.txt", user="root") == "via redis"
    b.files.remove("/tmp/corral-redis-proxy.txt", user="root")

    redis_proxy.delete(sandbox_b.sandbox_id)
    try:
        with pytest.raises(SandboxNotRunningException):
            b.commands.run("true")
        assert a.commands.run("echo still").stdout == "still\n"
    finally:
        redis_proxy.put(sandbox_b.route)
