"""`Kernel`, our client of one real kernel process, under requests sent while replies arrive.

Regression: requests used to go out through jupyter_client's `Session.send`, which sends on a
blocking shadow of the asyncio shell socket. A reply that reached the socket during such a
send lost its wake-up, and the shell reader waited forever: a `run_code` that never answered
(in sandboxes, about one first bash run in five). Bursts of requests, each sent while earlier
ones are being answered, hit that window within the first few rounds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from corral.interpreter.kernel import Kernel
from corral.interpreter.languages import kernel_command
from corral.interpreter.settings import Settings

ROUNDS = 150
BURST = 5
ANSWER_WITHIN = 10.0


async def test_requests_sent_while_replies_arrive_are_all_answered(tmp_path: Path) -> None:
    kernel = Kernel(kernel_command("python", Settings()), cwd=str(tmp_path), runtime_dir=tmp_path)
    await kernel.start(60)
    try:
        for round_ in range(ROUNDS):
            executions = []
            for i in range(BURST):
                executions.append(kernel.execute(f"{round_} * {i}"))
                await asyncio.sleep(0.001 * (i % 3))  # the kernel answers meanwhile
            done = asyncio.gather(*(execution.done.wait() for execution in executions))
            try:
                await asyncio.wait_for(done, ANSWER_WITHIN)
            except TimeoutError:
                raise AssertionError(f"a request of round {round_} was never answered") from None
            assert all(execution.error is None for execution in executions)
    finally:
        await kernel.shutdown()
