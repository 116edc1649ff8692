"""The orchestrator: the daemon that owns every sandbox on one host (E2B's packages/orchestrator).

The control plane calls it over gRPC (`proto/orchestrator/orchestrator.proto`, port 5008) with a
shared secret; it runs sandboxes through a `corral.runtime.types.Driver`, keeps warm pools,
kills sandboxes past their end time and re-adopts running ones after a restart.

    settings.py   OrchestratorSettings (CORRAL_ORCHESTRATOR_*)
    node.py       the lifecycle: create, pause/resume, kill, recovery after a restart
    launcher.py   a ready, personalised sandbox: from the warm pool or a cold start
    registry.py   durable sandbox records          pool.py      warm pools
    reaper.py     the timeout sweep                envd_client.py  /health and /init
    service.py    gRPC handlers                    server.py    the process
    auth.py       the secret check                 client.py    the control plane's client
    wire.py       proto <-> Python values          errors.py    exceptions <-> status codes
    templates.py  template id -> rootfs            wiring.py    the real OCI driver
    main.py       `corral orchestrator`
"""
