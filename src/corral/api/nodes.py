"""The orchestrator nodes the control plane can place sandboxes on, and how it finds them.

`NodeDirectory` is the seam for discovery: `StaticNodes` takes the list from settings; a Nomad,
Consul or Kubernetes directory will answer the same calls. `Placement` picks a node for a new
sandbox: the least loaded of those that answer (one node today, best-of-K later).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from corral import logs
from corral.api.errors import Unavailable
from corral.api.settings import ApiSettings
from corral.orchestrator.client import OrchestratorClient
from corral.orchestrator.errors import OrchestratorError, SandboxNotFound
from corral.orchestrator.wire import Sandbox
from corral.runtime.types import SandboxState

log = logs.get("api.nodes")


@dataclass(frozen=True)
class Node:
    id: str
    client: OrchestratorClient


class NodeDirectory(Protocol):
    def nodes(self) -> Sequence[Node]: ...

    def node(self, node_id: str) -> Node | None: ...

    async def close(self) -> None: ...


class StaticNodes:
    """Nodes from `CORRAL_API_NODES`, one gRPC channel each, opened lazily by grpc."""

    def __init__(self, settings: ApiSettings) -> None:
        secret = settings.orchestrator_secret
        token = secret.get_secret_value() if secret else None
        self._nodes = [Node(n.id, OrchestratorClient(n.target, token)) for n in settings.nodes]

    def nodes(self) -> Sequence[Node]:
        return self._nodes

    def node(self, node_id: str) -> Node | None:
        return next((n for n in self._nodes if n.id == node_id), None)

    async def close(self) -> None:
        for node in self._nodes:
            await node.client.close()


class Placement:
    def __init__(self, directory: NodeDirectory) -> None:
        self.directory = directory

    async def pick(self) -> Node:
        nodes = list(self.directory.nodes())
        if len(nodes) == 1:
            return nodes[0]
        infos = await asyncio.gather(*(n.client.info() for n in nodes), return_exceptions=True)
        ranked = sorted(
            (info.allocated_memory_mb, i)
            for i, info in enumerate(infos)
            if not isinstance(info, BaseException)
        )
        if not ranked:
            raise Unavailable("no orchestrator node is reachable")
        return nodes[ranked[0][1]]


async def locate(
    directory: NodeDirectory, sandbox_id: str, hint: str | None = None
) -> tuple[Node, Sandbox] | None:
    """The node that runs `sandbox_id` and its view of it; `hint` (a node id) is asked first."""
    nodes = list(directory.nodes())
    if hint is not None:
        nodes.sort(key=lambda n: n.id != hint)
    for node in nodes:
        try:
            return node, await node.client.get(sandbox_id)
        except SandboxNotFound:
            continue
        except OrchestratorError as exc:
            log.warning("node did not answer", node=node.id, error=str(exc))
    return None


async def list_all(
    directory: NodeDirectory,
    team_id: str,
    *,
    state: SandboxState | None = None,
    metadata: Mapping[str, str] | None = None,
    ascending: bool = False,
    limit: int = 0,
    after: tuple[datetime, str] | None = None,
) -> list[tuple[Node, Sandbox]]:
    """Every sandbox of a team on every reachable node; with `limit`, each node's first that
    many past `after` in (start time, id) order (see `OrchestratorClient.list`)."""
    nodes = list(directory.nodes())
    answers = await asyncio.gather(
        *(
            n.client.list(
                team_id=team_id,
                state=state,
                metadata=metadata,
                ascending=ascending,
                limit=limit,
                after=after,
            )
            for n in nodes
        ),
        return_exceptions=True,
    )
    found: list[tuple[Node, Sandbox]] = []
    for node, answer in zip(nodes, answers, strict=True):
        if isinstance(answer, BaseException):
            log.warning("node did not answer", node=node.id, error=str(answer))
            continue
        found.extend((node, s) for s in answer)
    return found
