"""The official `e2b-code-interpreter` SDK against `corral up`, on the `code-interpreter-v1`
template that `corral template build` makes (the same build `corral up` runs on first start)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2b_code_interpreter import Sandbox

from tests.e2e.conftest import Platform

pytestmark = [pytest.mark.slow, pytest.mark.root]

TEMPLATE = "code-interpreter-v1"


@pytest.fixture(scope="session")
def interpreter_template(platform: Platform) -> str:
    """Built once per platform: pip installs the kernels and data libraries (a few minutes)."""
    env = {**os.environ, **platform.exports, "CORRAL_DATA_DIR": str(platform.data_dir)}
    built = subprocess.run(
        [str(Path(sys.executable).with_name("corral")), "template", "build", TEMPLATE],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return TEMPLATE


@pytest.fixture
def sbx(interpreter_template: str, sdk_env: dict[str, str]) -> Sandbox:
    sandbox = Sandbox.create(interpreter_template)
    yield sandbox  # type: ignore[misc]
    sandbox.kill()


def test_state_streams_errors_and_rich_results(sbx: Sandbox) -> None:
    started = time.perf_counter()
    first = sbx.run_code("1 + 1", timeout=30)
    first_ms = (time.perf_counter() - started) * 1000
    assert first.text == "2"
    assert first_ms < 5000  # the kernel was up before create returned (no warm-up)

    sbx.run_code("x = 1", timeout=30)
    assert sbx.run_code("x + 1", timeout=30).text == "2"

    lines: list[tuple[str, str]] = []
    sbx.run_code(
        "import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')",
        on_stdout=lambda m: lines.append(("out", m.line)),
        on_stderr=lambda m: lines.append(("err", m.line)),
        timeout=30,
    )
    # Each stream in order (Jupyter flushes stdout and stderr apart, as with E2B).
    assert "".join(line for kind, line in lines if kind == "out") == "one\nthree\n"
    assert "".join(line for kind, line in lines if kind == "err") == "two\n"

    failed = sbx.run_code("raise ValueError('boom')", timeout=30)
    assert failed.error is not None
    assert (failed.error.name, failed.error.value) == ("ValueError", "boom")
    assert "ValueError" in failed.error.traceback

    plot = sbx.run_code(
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()", timeout=60
    )
    assert plot.results and plot.results[0].png
    frame = sbx.run_code("import pandas as pd\npd.DataFrame({'a': [1, 2]})", timeout=60)
    assert frame.results and "<table" in (frame.results[0].html or "")


def test_contexts_restart_timeout_and_envs(sbx: Sandbox) -> None:
    one, two = sbx.create_code_context(), sbx.create_code_context()
    sbx.run_code("secret = 'one'", context=one, timeout=30)
    missing = sbx.run_code("secret", context=two, timeout=30)
    assert missing.error is not None and missing.error.name == "NameError"
    sbx.restart_code_context(one)
    assert sbx.run_code("secret", context=one, timeout=30).error is not None

    with pytest.raises(Exception):  # noqa: B017 - the SDK's timeout error
        sbx.run_code("while True:\n    pass", context=two, timeout=3)
    assert sbx.run_code("21 * 2", context=two, timeout=30).text == "42"

    env = sbx.run_code("import os\nos.environ['GREETING']", envs={"GREETING": "hello"}, timeout=30)
    assert env.text == "hello"


def test_bash_and_javascript(sbx: Sandbox) -> None:
    bash = sbx.run_code("echo $((6 * 7))", language="bash", timeout=60)
    assert bash.logs.stdout == ["42\n"]
    js = sbx.run_code("[1, 2, 3].map(x => x * 2)", language="js", timeout=60)
    assert js.text == "[ 2, 4, 6 ]"
