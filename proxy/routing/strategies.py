"""Load balancing: put the usable deployments of a group in the order to try them.

The router tries the first deployment that grants a slot (``usage.DeploymentStats``), so a
strategy only ranks; limits are enforced in one place.

- ``simple-shuffle``: weighted random order. Weights come from ``litellm_params.weight`` when
  any deployment of the group sets one (others count 1), else from ``rpm`` when any sets it
  (others count the mean of those set), else all equal.
- ``least-busy``: fewest in-flight calls first, ties at random.
- ``latency-based-routing``: lowest smoothed latency first (a deployment never measured
  counts as fastest, so it gets measured); with probability ``exploration_rate`` the order is
  random, so a deployment that was slow once is measured again and wins back its traffic when
  it recovers. ``lowest_latency_buffer`` shuffles those within +x% of the fastest.
- ``usage-based-routing``: least used share of ``rpm`` this minute first (deployments at
  their ``rpm`` / ``tpm`` are then refused a slot).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from proxy.config import Deployment, RoutingStrategyArgs
from proxy.routing.usage import DeploymentStats


def weights(deployments: Sequence[Deployment]) -> list[float]:
    if any(d.params.weight is not None for d in deployments):
        return [d.params.weight if d.params.weight is not None else 1.0 for d in deployments]
    given = [float(d.params.rpm) for d in deployments if d.params.rpm is not None]
    if given:
        mean = sum(given) / len(given)
        return [float(d.params.rpm) if d.params.rpm is not None else mean for d in deployments]
    return [1.0] * len(deployments)


def weighted_order(
    deployments: Sequence[Deployment], w: Sequence[float], rng: random.Random
) -> list[Deployment]:
    """A random order where each next pick is drawn in proportion to its weight (a zero
    weight goes last, in random order)."""
    pool = list(zip(deployments, w, strict=True))
    out: list[Deployment] = []
    while pool:
        total = sum(weight for _, weight in pool)
        if total <= 0:
            rest = [d for d, _ in pool]
            rng.shuffle(rest)
            return out + rest
        point = rng.uniform(0, total)
        upto = 0.0
        index = max(i for i, (_, weight) in enumerate(pool) if weight > 0)
        for i, (_, weight) in enumerate(pool):
            upto += weight
            if weight > 0 and point < upto:
                index = i
                break
        out.append(pool.pop(index)[0])
    return out


def _ranked(
    deployments: Sequence[Deployment], keys: Sequence[float], rng: random.Random
) -> list[Deployment]:
    tagged = [(k, rng.random(), i) for i, k in enumerate(keys)]
    tagged.sort()
    return [deployments[i] for _, _, i in tagged]


async def order(
    strategy: str,
    deployments: Sequence[Deployment],
    stats: DeploymentStats,
    rng: random.Random,
    args: RoutingStrategyArgs,
) -> list[Deployment]:
    deps = list(deployments)
    if len(deps) <= 1:
        return deps
    if strategy == "least-busy":
        return _ranked(deps, await stats.in_flight(deps), rng)
    if strategy == "latency-based-routing":
        return await _by_latency(deps, stats, rng, args)
    if strategy == "usage-based-routing":
        used = await stats.requests_this_minute(deps)
        share = [u / d.params.rpm if d.params.rpm else u for u, d in zip(used, deps, strict=True)]
        return _ranked(deps, share, rng)
    w = weights(deps)
    if w[0] > 0 and w.count(w[0]) == len(w):  # equal weights: every order equally likely
        rng.shuffle(deps)
        return deps
    return weighted_order(deps, w, rng)


async def _by_latency(
    deps: list[Deployment], stats: DeploymentStats, rng: random.Random, args: RoutingStrategyArgs
) -> list[Deployment]:
    if rng.random() < args.exploration_rate:
        shuffled = list(deps)
        rng.shuffle(shuffled)
        return shuffled
    latencies = [lat if lat is not None else 0.0 for lat in await stats.latencies(deps)]
    ranked = _ranked(deps, latencies, rng)
    if args.lowest_latency_buffer <= 0:
        return ranked
    fastest = min(latencies)
    bound = fastest * (1 + args.lowest_latency_buffer)
    near = [d for d, lat in zip(deps, latencies, strict=True) if lat <= bound]
    rng.shuffle(near)
    return near + [d for d in ranked if d not in near]
