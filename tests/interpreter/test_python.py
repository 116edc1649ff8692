"""Python through `run_code`: state, streams, errors, rich results, env vars, timeouts."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pytest
from e2b import TimeoutException
from e2b_code_interpreter import AsyncSandbox, OutputMessage, Sandbox


def test_state_persists_between_runs(sbx: Sandbox) -> None:
    first = sbx.run_code("x = 1")
    assert first.error is None and first.results == [] and first.text is None
    second = sbx.run_code("x + 1")
    assert second.text == "2"
    assert second.results[0].is_main_result
    assert second.execution_count is not None and first.execution_count is not None
    assert second.execution_count == first.execution_count + 1


def test_stdout_and_stderr_stream_in_order_as_they_happen(sbx: Sandbox) -> None:
    seen: list[tuple[str, str, float]] = []

    def collect(kind: str) -> Callable[[OutputMessage], None]:
        def on(message: OutputMessage) -> None:
            seen.append((kind, message.line, time.monotonic()))
            assert isinstance(message.timestamp, int)
            # Unix nanoseconds, close to now
            assert abs(message.timestamp / 1e9 - time.time()) < 60

        return on

    code = (
        "import sys, time\n"
        "print('one', flush=True)\n"
        "time.sleep(0.8)\n"
        "print('two', file=sys.stderr, flush=True)\n"
        "print('three', flush=True)\n"
    )
    execution = sbx.run_code(code, on_stdout=collect("out"), on_stderr=collect("err"))
    done = time.monotonic()
    assert [(kind, line) for kind, line, _ in seen] == [
        ("out", "one\n"),
        ("err", "two\n"),
        ("out", "three\n"),
    ]
    assert execution.logs.stdout == ["one\n", "three\n"]
    assert execution.logs.stderr == ["two\n"]
    # The first line reached the client while the code was still sleeping.
    assert done - seen[0][2] > 0.5


def test_exception_comes_back_as_execution_error(sbx: Sandbox) -> None:
    errors = []
    execution = sbx.run_code("def f():\n    return 1 / 0\nf()", on_error=errors.append)
    assert execution.error is not None
    assert execution.error.name == "ZeroDivisionError"
    assert execution.error.value == "division by zero"
    assert "ZeroDivisionError" in execution.error.traceback
    assert "return 1 / 0" in execution.error.traceback
    assert "\x1b[" not in execution.error.traceback  # no colour codes
    assert errors == [execution.error]
    assert sbx.run_code("print('still fine')").logs.stdout == ["still fine\n"]


def test_matplotlib_figure_is_a_png_result(sbx: Sandbox) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3], [1, 4, 9])\n"
        "plt.title('squares')\n"
        "plt.show()\n"
    )
    execution = sbx.run_code(code)
    assert execution.error is None
    images = [r for r in execution.results if r.png]
    assert len(images) == 1
    assert base64.b64decode(images[0].png).startswith(b"\x89PNG\r\n\x1a\n")
    assert not images[0].is_main_result
    # e2b-charts is installed here, so the figure is also described as a chart
    assert images[0].chart is not None
    assert images[0].chart.title == "squares"


def test_dataframe_is_html_and_data(sbx: Sandbox) -> None:
    code = "import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', None]})"
    execution = sbx.run_code(code)
    assert execution.error is None
    main = execution.results[0]
    assert main.is_main_result
    assert main.html is not None and "<table" in main.html
    assert main.data == {"a": [1, 2], "b": ["x", None]}
    assert main.text is not None and "a" in main.text


def test_rich_display_formats(sbx: Sandbox) -> None:
    code = (
        "from IPython.display import display, HTML, Markdown, Latex, SVG, JSON\n"
        "display(HTML('<b>bold</b>'))\n"
        "display(Markdown('# title'))\n"
        "display(Latex(r'$x^2$'))\n"
        'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\'))\n'
        "{'k': [1, 2]}\n"
    )
    execution = sbx.run_code(code)
    assert execution.error is None
    html, markdown, latex, svg, main = execution.results
    assert html.html == "<b>bold</b>" and not html.is_main_result
    assert markdown.markdown == "# title"
    assert latex.latex == "$x^2$"
    assert svg.svg is not None and svg.svg.startswith("<svg")
    assert main.is_main_result and main.json == {"k": [1, 2]}
    assert main.text == "{'k': [1, 2]}"
    assert execution.text == "{'k': [1, 2]}"


def test_string_result_loses_its_quotes_as_in_e2b(sbx: Sandbox) -> None:
    assert sbx.run_code("'abc'").text == "abc"


def test_env_vars_reach_the_code_for_that_run_only(sbx: Sandbox) -> None:
    sbx.run_code("import os\nos.environ['KEPT'] = 'before'\nos.environ.pop('ONLY_NOW', None)")
    execution = sbx.run_code(
        "import os\n[os.environ['ONLY_NOW'], os.environ['KEPT']]",
        envs={"ONLY_NOW": 'it\'s "here"\n', "KEPT": "during"},
    )
    assert execution.error is None
    assert execution.results[0].json == ['it\'s "here"\n', "during"]
    after = sbx.run_code("import os\n[os.environ.get('ONLY_NOW'), os.environ['KEPT']]")
    assert after.results[0].json == [None, "before"]


def test_subprocesses_see_the_run_env_vars(sbx: Sandbox) -> None:
    execution = sbx.run_code(
        "import subprocess\n"
        "print(subprocess.check_output(['sh', '-c', 'echo $FROM_RUN'], text=True))",
        envs={"FROM_RUN": "yes"},
    )
    assert execution.logs.stdout == ["yes\n\n"]


def test_timeout_interrupts_and_the_context_stays_usable(sbx: Sandbox) -> None:
    sbx.run_code("kept = 41")
    started = time.monotonic()
    with pytest.raises(TimeoutException):
        sbx.run_code("while True:\n    pass", timeout=1)
    assert time.monotonic() - started < 10
    started = time.monotonic()
    execution = sbx.run_code("kept + 1")
    assert execution.text == "42"  # interrupted, not restarted: the state is still there
    assert time.monotonic() - started < 2


def test_code_that_ignores_interrupts_gets_a_fresh_kernel(sbx: Sandbox) -> None:
    context = sbx.create_code_context()
    sbx.run_code("lost = 1", context=context)
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)"
    with pytest.raises(TimeoutException):
        sbx.run_code(code, context=context, timeout=1)
    # The server gives the kernel its grace period, then replaces it; the next run waits.
    execution = sbx.run_code("'lost' in globals()", context=context, timeout=30)
    assert execution.text == "False"
    sbx.remove_code_context(context)


def test_a_dying_kernel_is_reported_and_replaced(sbx: Sandbox) -> None:
    context = sbx.create_code_context()
    execution = sbx.run_code("import os\nos._exit(3)", context=context, timeout=30)
    assert execution.error is not None
    assert execution.error.name == "ContextRestarting"
    assert sbx.run_code("1 + 1", context=context).text == "2"
    sbx.remove_code_context(context)


async def test_async_sdk(async_sbx: AsyncSandbox) -> None:
    lines: list[str] = []
    execution = await async_sbx.run_code(
        "print('async')\n6 * 7", on_stdout=lambda m: lines.append(m.line)
    )
    assert execution.text == "42"
    assert lines == ["async\n"]
