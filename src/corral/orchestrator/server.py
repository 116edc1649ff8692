"""The orchestrator process: a `Node` behind a `grpc.aio` server, started and stopped in order.

Start: recover (re-adopt sandboxes, clean orphans) before the port opens, so the first call
already sees every sandbox a previous run reported. Stop: refuse new calls, let running ones
finish for `shutdown_grace` seconds, then stop the node (pool sandboxes destroyed, assigned
sandboxes left running for the next start to adopt).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import grpc.aio

from corral import logs
from corral.orchestrator.auth import SecretInterceptor
from corral.orchestrator.build_service import TemplateService
from corral.orchestrator.builds import TemplateBuilds
from corral.orchestrator.gen import orchestrator_pb2_grpc as pb_grpc
from corral.orchestrator.gen import templates_pb2_grpc as tpb_grpc
from corral.orchestrator.node import Node
from corral.orchestrator.service import NodeService, SandboxService
from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.templates import NodeTemplates, TemplateCatalog
from corral.runtime.types import Driver

log = logs.get("orchestrator.server")

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class OrchestratorServer:
    def __init__(
        self, settings: OrchestratorSettings, driver: Driver, templates: TemplateCatalog
    ) -> None:
        self.settings = settings
        self.node = Node(driver=driver, templates=templates, settings=settings)
        self.builds = (
            TemplateBuilds(self.node, templates, settings)
            if isinstance(templates, NodeTemplates)
            else None
        )
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Recover, then listen; returns the bound port (useful with port 0)."""
        await self.node.start()
        if self.builds is not None:
            await self.builds.start()
        interceptors: list[grpc.aio.ServerInterceptor] = []
        if self.settings.secret is not None:
            interceptors.append(SecretInterceptor(self.settings.secret.get_secret_value()))
        else:
            log.warning("no secret: every caller is trusted (development mode)")
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        pb_grpc.add_SandboxServiceServicer_to_server(SandboxService(self.node), server)  # type: ignore[no-untyped-call]
        pb_grpc.add_NodeServiceServicer_to_server(NodeService(self.node), server)  # type: ignore[no-untyped-call]
        if self.builds is not None:
            tpb_grpc.add_TemplateServiceServicer_to_server(TemplateService(self.builds), server)  # type: ignore[no-untyped-call]
        address = f"{self.settings.host}:{self.settings.port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            port, error = 0, str(exc)
        else:
            error = "address in use?"
        if port == 0:
            await self.node.stop()
            raise OSError(f"cannot listen on {address}: {error}")
        self.port = port
        await server.start()
        self._server = server
        log.info("orchestrator listening", address=f"{self.settings.host}:{self.port}")
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace if grace is None else grace)
            self._server = None
        if self.builds is not None:
            await self.builds.stop()
        await self.node.stop()


async def serve(settings: OrchestratorSettings, driver: Driver, templates: TemplateCatalog) -> None:
    """Run until SIGINT or SIGTERM."""
    server = OrchestratorServer(settings, driver, templates)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
        log.info("orchestrator stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
        await server.stop()
