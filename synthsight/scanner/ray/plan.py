"""How many inference actors a --ray scan starts and what each reserves, from what the cluster has and what is
free now: one actor per GPU (``num_gpus=1``, one CPU), or one CPU actor per node; the pool starts with what is
free (one actor, with a CPU left to decode) and grows to the plan as its use asks and other work ends.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from synthsight.errors import UsageError
from synthsight.machine import parse_device
from synthsight.scanner.session import ModelFacts

FREE_WAIT_S = 15.0  # how long a scan waits for a cluster's resources to be free before it says they are not


@dataclass(frozen=True)
class ActorPlan:
    """How many inference actors, what each reserves, and what the cluster had when the scan started."""

    address: str
    actors: int
    actor_cpus: float
    actor_gpus: float
    device: str
    threads: int | None
    cluster_cpus: float
    cluster_gpus: float
    nodes: int
    free_cpus: float | None = None  # what was free when the scan started (None: not asked)
    free_gpus: float | None = None
    first_actors: int = 0  # actors the free resources held when the scan started (the pool starts with one)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def plan_actors(address: str, opts: Any, facts: ModelFacts) -> ActorPlan:
    """One actor per GPU (``num_gpus=1``, one CPU), or one CPU actor per node; refuses what cannot run here."""
    import ray

    from synthsight.artifacts import model_kind

    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    # Nodes that can run work: a head started with --num-cpus 0 (the driver's own) takes none.
    nodes = max(1, sum(1 for n in ray.nodes() if n.get("Alive") and (n.get("Resources") or {}).get("CPU", 0) > 0))
    device = parse_device(opts.device)
    where = f"the Ray cluster at {address} has {cpus:g} CPUs and {gpus:g} GPUs"
    if device.index is not None:
        raise UsageError(f"--device {device}: with --ray each inference actor gets a whole GPU: use --device cuda")
    needs_gpu = device.kind == "cuda" or model_kind(facts.path) == "engine" or opts.backend == "tensorrt"
    if needs_gpu and gpus < 1:
        asked = f"--device {opts.device}" if device.kind == "cuda" else Path(facts.path).name
        raise UsageError(f"{asked} needs GPUs, but {where}; use --device cpu or add GPU nodes")
    if gpus >= 1 and device.kind != "cpu":
        plan = ActorPlan(address, math.floor(gpus), 1.0, 1.0, "cuda", None, cpus, gpus, nodes)
    else:
        threads = opts.threads or max(1, int(cpus // nodes) // 2)
        plan = ActorPlan(address, nodes, float(threads), 0.0, "cpu", threads, cpus, gpus, nodes)
    if cpus < plan.actors * plan.actor_cpus + 1:
        need = plan.actors * plan.actor_cpus
        raise UsageError(f"{where}: {plan.actors} inference actors need {need:g} CPUs and decoding at least one more")
    return _fit_free(plan, ray.available_resources, where)


def _fit_free(plan: ActorPlan, available: Any, where: str) -> ActorPlan:
    """Count the actors the free resources hold now (at least one, with a CPU left to decode); the pool starts
    with one and grows to the plan's size as its use asks and other work on the cluster ends. Another scan or
    job holding everything is one line, not a scan that waits for ever for its first actor (two drivers on one
    cluster, issue 24 item 3). Resources an ending job is still releasing (actors stop asynchronously) get
    FREE_WAIT_S to come back."""
    deadline = time.monotonic() + FREE_WAIT_S
    while True:
        free = available()
        free_cpus, free_gpus = float(free.get("CPU", 0)), float(free.get("GPU", 0))
        by_cpu = int((free_cpus - 1) // plan.actor_cpus) if plan.actor_cpus else plan.actors
        by_gpu = int(free_gpus // plan.actor_gpus) if plan.actor_gpus else plan.actors
        first = min(plan.actors, by_cpu, by_gpu)
        if first >= 1 or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    if first < 1:
        one = f"{plan.actor_cpus:g} CPUs" + (f" and {plan.actor_gpus:g} GPU" if plan.actor_gpus else "")
        raise UsageError(
            f"{where}, but only {free_cpus:g} CPUs and {free_gpus:g} GPUs are free now (another scan or job holds "
            f"the rest): one inference actor needs {one} and decoding one CPU more; run it when they are free"
        )
    return replace(plan, free_cpus=free_cpus, free_gpus=free_gpus, first_actors=first)
