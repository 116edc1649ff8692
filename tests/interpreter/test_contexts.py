"""Contexts through the SDK: create, list, isolation, working directory, restart, remove."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2b import NotFoundException, SandboxException
from e2b_code_interpreter import Sandbox


def test_contexts_are_isolated(sbx: Sandbox) -> None:
    one = sbx.create_code_context()
    two = sbx.create_code_context()
    try:
        assert one.id != two.id
        assert one.language == two.language == "python"
        sbx.run_code("secret = 'one'", context=one)
        assert sbx.run_code("secret", context=one).text == "one"
        other = sbx.run_code("secret", context=two)
        assert other.error is not None and other.error.name == "NameError"
        assert sbx.run_code("'secret' in globals()").text == "False"  # the default context
    finally:
        sbx.remove_code_context(one)
        sbx.remove_code_context(two)


def test_context_runs_in_its_working_directory(sbx: Sandbox, tmp_path: Path) -> None:
    context = sbx.create_code_context(cwd=str(tmp_path))
    try:
        assert context.cwd == str(tmp_path)
        assert sbx.run_code("import os\nos.getcwd()", context=context).text == str(tmp_path)
        sbx.run_code("open('made-here.txt', 'w').write('x')", context=context)
        assert (tmp_path / "made-here.txt").read_text() == "x"
    finally:
        sbx.remove_code_context(context)


def test_missing_working_directory_is_refused(sbx: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(SandboxException, match="400"):
        sbx.create_code_context(cwd=str(tmp_path / "missing"))


def test_list_shows_every_context_with_its_language_and_cwd(sbx: Sandbox) -> None:
    context = sbx.create_code_context(cwd="/tmp")
    try:
        listed = {c.id: c for c in sbx.list_code_contexts()}
        assert listed[context.id].language == "python"
        assert listed[context.id].cwd == "/tmp"
        # the default Python context started with the server is there too
        assert any(c.id != context.id and c.language == "python" for c in listed.values())
    finally:
        sbx.remove_code_context(context.id)
    assert context.id not in {c.id for c in sbx.list_code_contexts()}


def test_restart_clears_state(sbx: Sandbox) -> None:
    context = sbx.create_code_context()
    try:
        sbx.run_code("before_restart = 1", context=context)
        pid = sbx.run_code("import os\nos.getpid()", context=context).text
        sbx.restart_code_context(context)
        execution = sbx.run_code("before_restart", context=context)
        assert execution.error is not None and execution.error.name == "NameError"
        assert sbx.run_code("import os\nos.getpid()", context=context).text != pid
        assert {c.id for c in sbx.list_code_contexts()} >= {context.id}
    finally:
        sbx.remove_code_context(context)


def test_removed_context_is_gone(sbx: Sandbox) -> None:
    context = sbx.create_code_context()
    pid = int(sbx.run_code("import os\nos.getpid()", context=context).text or 0)
    sbx.remove_code_context(context)
    with pytest.raises(NotFoundException):
        sbx.run_code("1", context=context)
    with pytest.raises(NotFoundException):
        sbx.restart_code_context(context)
    with pytest.raises(NotFoundException):
        sbx.remove_code_context(context)
    with pytest.raises(ProcessLookupError):  # the kernel process is gone too
        os.kill(pid, 0)


def test_unsupported_language_is_a_client_error(sbx: Sandbox) -> None:
    with pytest.raises(SandboxException, match="400"):
        sbx.run_code("1", language="cobol")
    with pytest.raises(SandboxException, match="400"):
        sbx.create_code_context(language="cobol")
