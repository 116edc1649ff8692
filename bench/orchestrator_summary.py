"""What a person reads of `orchestrator_bench`'s JSON: latencies, memory, density, noise."""

from __future__ import annotations

from typing import Any

NOISY_CORES = 0.3
"""Cores used by others during a phase above which its numbers are flagged as shared."""


def _p(stats: Any, key: str = "p50") -> str:
    if not isinstance(stats, dict) or not stats.get("n"):
        return "-"
    return f"{stats[key]:.1f}"


def _pp(stats: Any) -> str:
    return f"{_p(stats)}/{_p(stats, 'p95')}"


def _mib(kib: Any) -> str:
    return f"{kib / 1024:.1f}" if isinstance(kib, int | float) else "-"


def interference(runtime: str, phases: dict[str, Any]) -> list[str]:
    notes = []
    for name, phase in phases.items():
        host = phase.get("host") if isinstance(phase, dict) else None
        if not host:
            continue
        if host["cores_others"] > NOISY_CORES or host["other_jobs"]:
            seen = host["other_jobs"] + host.get("top_others", [])
            jobs = "; ".join(seen)[:200] or "no test/bench process seen"
            notes.append(f"{runtime}/{name}: others used {host['cores_others']} cores ({jobs})")
    first = phases.get("pool_hit", {}).get("grpc_create_ms", {})
    again = phases.get("pool_hit_repeat", {}).get("grpc_create_ms", {})
    if first.get("n") and again.get("n"):
        ratio = again["p50"] / first["p50"]
        notes.append(
            f"{runtime}: gRPC pool hit p50 {first['p50']} ms, repeated at the end {again['p50']} ms"
            f" (x{ratio:.2f}{', noisy' if not 0.8 <= ratio <= 1.25 else ''})"
        )
    return notes


def summarize(result: dict[str, Any]) -> str:
    lines = [
        "runtime | hit node p50/p95 | hit gRPC p50/p95 | hit +internet p50 | miss gRPC p50/p95"
        " | raw run true p50 | idle PSS / private / cgroup MiB | density",
    ]
    notes: list[str] = []
    breakdown = []
    for runtime, phases in result.get("runtimes", {}).items():
        hit = phases.get("pool_hit", {})
        miss = phases.get("pool_miss", {})
        idle = phases.get("idle_memory", {}).get("median", {})
        dense = phases.get("density", {})
        lines.append(
            f"{runtime} | {_pp(hit.get('node_create_ms'))} | {_pp(hit.get('grpc_create_ms'))}"
            f" | {_p(hit.get('grpc_create_internet_ms'))} | {_pp(miss.get('grpc_create_ms'))}"
            f" | {_p(phases.get('raw_run_true_ms'))} | {_mib(idle.get('pss_kib'))} /"
            f" {_mib(idle.get('private_kib'))} / {_mib(idle.get('cgroup_usage_kib'))}"
            f" | {dense.get('count', '-')} ({dense.get('stopped_because', '-')})"
        )
        steps = miss.get("steps_ms", {})
        if steps:
            order = (
                "network_create", "disk_create", "driver_setup", "runtime_start", "driver_create",
                "envd_wait", "envd_init", "registry_put", "grpc_and_rest",
            )  # fmt: skip
            parts = ", ".join(f"{k} {_p(steps.get(k))}" for k in order)
            breakdown.append(f"{runtime} pool miss p50 ms: {parts}")
            deletes = miss.get("delete_steps_ms", {})
            breakdown.append(
                f"{runtime} delete p50 ms: gRPC {_p(miss.get('grpc_delete_ms'))}, "
                + ", ".join(f"{k} {_p(v)}" for k, v in deletes.items())
            )
        notes += interference(runtime, phases)
    envd = result.get("envd_on_host", {})
    if envd:
        lines.append(
            "envd on the host, start to /health p50: dist launcher"
            f" {_p(envd.get('dist_launcher_start_to_health_ms'))} ms, envd_bench way"
            f" {_p(envd.get('envd_bench_start_to_health_ms'))} ms"
        )
    left = result.get("leftovers_after_purge")
    lines += breakdown
    lines += [f"note: {n}" for n in notes]
    lines.append(f"leftovers after purge: {left or 'none'}; total {result.get('total_s')} s")
    return "\n".join(lines)
