"""bash (bash_kernel) and JavaScript/TypeScript (Deno's kernel) through `run_code`."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest
from e2b import TimeoutException
from e2b_code_interpreter import Sandbox

from tests.envd.conftest import start_envd, stop_envd
from tests.interpreter.conftest import sandbox, start_interpreter, stop_interpreter

FRESH_BASH_CONTEXTS = 8


def test_bash_keeps_state_and_streams_output(sbx: Sandbox) -> None:
    sbx.run_code("COUNT=41; cd /tmp", language="bash")
    lines: list[str] = []
    execution = sbx.run_code(
        "echo $((COUNT + 1)); pwd", language="bash", on_stdout=lambda m: lines.append(m.line)
    )
    assert execution.error is None
    assert lines == ["42\n", "/tmp\n"]


def test_bash_failure_is_an_error_with_the_exit_code(sbx: Sandbox) -> None:
    execution = sbx.run_code(
        "echo before; exit_with() { return $1; }; exit_with 3", language="bash"
    )
    assert execution.logs.stdout == ["before\n"]
    assert execution.error is not None
    assert execution.error.value == "3"


def test_bash_env_vars_for_one_run(sbx: Sandbox) -> None:
    execution = sbx.run_code(
        'echo "[$RUN_ONLY]"', language="bash", envs={"RUN_ONLY": "a 'quoted' $value"}
    )
    assert execution.logs.stdout == ["[a 'quoted' $value]\n"]
    assert sbx.run_code('echo "[${RUN_ONLY-unset}]"', language="bash").logs.stdout == ["[unset]\n"]


def test_bash_timeout_interrupts_the_command(sbx: Sandbox) -> None:
    sbx.run_code("KEPT=yes", language="bash")
    with pytest.raises(TimeoutException):
        sbx.run_code("sleep 600", language="bash", timeout=1)
    started = time.monotonic()
    assert sbx.run_code("echo $KEPT", language="bash").logs.stdout == ["yes\n"]
    assert time.monotonic() - started < 2


def test_javascript_keeps_state_and_returns_results(sbx: Sandbox) -> None:
    sbx.run_code("let total = 40", language="javascript")
    execution = sbx.run_code(
        "console.log('log'); console.error('warn'); total + 2", language="javascript"
    )
    assert execution.error is None
    assert execution.text == "42"
    assert execution.logs.stdout == ["log\n"]
    assert execution.logs.stderr == ["warn\n"]
    assert "\x1b[" not in sbx.run_code("({a: [1, 'b']})", language="js").text


def test_javascript_error_is_an_execution_error(sbx: Sandbox) -> None:
    execution = sbx.run_code("throw new TypeError('nope')", language="javascript")
    assert execution.error is not None
    assert execution.error.name == "TypeError"
    assert execution.error.value == "nope"


def test_typescript_runs_typed_code(sbx: Sandbox) -> None:
    code = "interface P { x: number }\nconst p: P = { x: 20 };\np.x * 2 + 2"
    assert sbx.run_code(code, language="typescript").text == "42"
    assert sbx.run_code("p.x", language="ts").text == "20"  # `ts` is E2B's short name


def test_javascript_env_vars_for_one_run(sbx: Sandbox) -> None:
    code = "process.env.JS_ONLY + '|' + Deno.env.get('JS_ONLY')"
    execution = sbx.run_code(code, language="js", envs={"JS_ONLY": "v"})
    assert execution.text == '"v|v"'
    assert sbx.run_code("Deno.env.get('JS_ONLY') ?? 'unset'", language="js").text == '"unset"'


def test_javascript_busy_loop_is_interrupted_and_state_kept(sbx: Sandbox) -> None:
    context = sbx.create_code_context(language="javascript")
    try:
        sbx.run_code("const kept = 7", context=context)
        with pytest.raises(TimeoutException):
            sbx.run_code("while (true) {}", context=context, timeout=1)
        started = time.monotonic()
        assert sbx.run_code("kept * 6", context=context).text == "42"
        assert time.monotonic() - started < 2
    finally:
        sbx.remove_code_context(context)


def test_language_contexts_are_listed_with_their_language(sbx: Sandbox) -> None:
    context = sbx.create_code_context(language="bash")
    try:
        assert context.language == "bash"
        assert sbx.run_code("echo in-context", context=context).logs.stdout == ["in-context\n"]
    finally:
        sbx.remove_code_context(context)


def test_javascript_results_are_never_lost(sbx: Sandbox) -> None:
    # Deno's kernel publishes some results after its `idle` status (5-10 % of executions);
    # the server waits them out, so every one of these runs has its result.
    texts = [sbx.run_code(f"{i} * 2", language="js").text for i in range(40)]
    assert texts == [str(i * 2) for i in range(40)]


def test_fresh_bash_contexts_answer_their_first_run_quickly() -> None:
    # As in a sandbox: envd holds env vars, so a new bash kernel's first run sends two
    # requests (those vars, then the code) just after its start-up was confirmed. One such
    # run in five used to never answer; each also waited 2.5 s for bash_kernel's set-up.
    envd = start_envd(token="envd-token")
    server = None
    try:
        init = httpx.post(
            f"{envd.url}/init",
            json={"envVars": {"SBX_GLOBAL": "from-envd"}},
            headers={"X-Access-Token": "envd-token"},
        )
        assert init.status_code == 204
        server = start_interpreter("--envd-url", envd.url)
        sbx = sandbox(server, token="envd-token")
        firsts = []
        for _ in range(FRESH_BASH_CONTEXTS):
            started = time.monotonic()
            # The default bash context does not exist yet: this run starts its kernel.
            execution = sbx.run_code("echo $SBX_GLOBAL $((6 * 7))", language="bash", timeout=10)
            firsts.append(time.monotonic() - started)
            assert execution.logs.stdout == ["from-envd 42\n"]
            for context in sbx.list_code_contexts():
                if context.language == "bash":
                    sbx.remove_code_context(context)
        assert statistics.median(firsts) < 1.5, firsts
    finally:
        if server is not None:
            stop_interpreter(server)
        stop_envd(envd)
