"""Policy engine through Python: admission decision latency and fair-share recomputation at
10,000 tenants (10 orgs x 10 teams x 100 tenants, as in the Rust criterion bench
``rust/gpuplane-core/benches/policy.rs``), with a full recomputation as the baseline in the same
run. Prints µs per operation (p50 / p99) and ratios; no timing assertions.

* ``admit + release``: one admitted 0.25-GPU request and its release, as in the Rust bench
  (``policy_admission_10k/admit_and_release``), with ``now`` passed explicitly.
* ``admit (rejected)``: a request above the cluster capacity (``admit_rejected_limit``).
* ``incremental``: one leaf's demand changes, then its fair share is read (``set_demand`` +
  ``fair_share``, which recomputes only the stale path and its siblings).
* ``full``: the same demand change, then every share recomputed (``recompute_fair_shares``).

    python benches/bench_policy.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import gpuplane

ORGS, TEAMS, TENANTS = 10, 10, 100


def res(n: float) -> dict[str, float]:
    return {"gpus": n, "memory_mib": n * 80_000, "tokens_per_s": n * 1000, "concurrent": n * 10}


def build() -> tuple[gpuplane.Policy, list[str]]:
    """The 3-level tree, each leaf with a random demand and some usage."""
    rng = random.Random(42)
    p = gpuplane.Policy()
    p.set_capacity(res(ORGS * TEAMS * TENANTS))
    leaves = []
    for o in range(ORGS):
        org = f"o{o}"
        p.add_tenant(org, guaranteed=res(500), deserved=res(1000))
        for t in range(TEAMS):
            team = f"{org}t{t}"
            p.add_tenant(team, org, guaranteed=res(50), deserved=res(100))
            for leaf_i in range(TENANTS):
                leaf = f"{team}l{leaf_i}"
                weight = 1.0 + rng.randrange(4)
                p.add_tenant(leaf, team, guaranteed=res(0.5), deserved=res(1), over_quota_weight=weight)
                p.set_demand(leaf, res(rng.randrange(4)))
                p.charge_tokens(leaf, rng.randrange(100), 0, now=0.0)
                leaves.append(leaf)
    p.recompute_fair_shares()
    return p, leaves


def timed(n: int, op) -> list[float]:
    """µs per call of ``op(i)`` for ``i`` in ``range(n)``."""
    out = []
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        op(i)
        out.append((clock() - t0) / 1000)
    return out


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def row(name: str, xs: list[float]) -> float:
    p50 = statistics.median(xs)
    print(f"{name:<34} p50 {p50:9.2f} µs   p99 {pct(xs, 0.99):9.2f} µs   n={len(xs)}")
    return p50


def bench_admission(p: gpuplane.Policy, leaves: list[str], n: int) -> dict[str, float]:
    req = res(0.25)
    state = {"t": 1.0}

    def admit_release(i: int) -> None:
        leaf = leaves[(i * 7919) % len(leaves)]
        state["t"] += 1e-3
        d = p.admit("req", leaf, req, now=state["t"])
        assert d.admitted, d
        p.release("req", now=state["t"])

    huge = res(1e9)

    def rejected(i: int) -> None:
        d = p.admit("big", leaves[0], huge, now=state["t"])
        assert d.reason == "rejected_limit", d

    timed(n // 10, admit_release)
    return {
        "admit + release": row("admit + release", timed(n, admit_release)),
        "admit (rejected)": row("admit (rejected_limit)", timed(n, rejected)),
    }


def bench_fair_share(p: gpuplane.Policy, leaves: list[str], n: int) -> tuple[float, float]:
    def change(i: int) -> str:
        leaf = leaves[(i * 7919) % len(leaves)]
        p.set_demand(leaf, res((i % 4) + 0.5))
        return leaf

    def incremental(i: int) -> None:
        p.fair_share(change(i))

    def full(i: int) -> None:
        change(i)
        p.recompute_fair_shares()

    inc = row("incremental (1 demand change)", timed(n, incremental))
    base = row("full recomputation (baseline)", timed(max(n // 20, 20), full))
    return inc, base


def criterion_note() -> None:
    print(
        "Rust (criterion, same tree): see `cargo bench -p gpuplane-core --bench policy`; "
        "policy_admission_10k/admit_and_release and policy_fair_share_10k/* in BENCHMARKS.md"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    args = ap.parse_args()
    n = 2_000 if args.quick else 20_000
    t0 = time.perf_counter()
    p, leaves = build()
    print(f"built {len(p)} tree nodes ({len(leaves)} leaves) in {time.perf_counter() - t0:.2f} s")
    print("\nadmission decision latency through Python (10,000 tenants)")
    adm = bench_admission(p, leaves, n)
    print("\nfair-share recomputation through Python (10,000 tenants, 3 levels)")
    inc, base = bench_fair_share(p, leaves, n // 4)
    print(f"\nfull / incremental: {base / inc:.1f}x")
    print(f"admit+release / rejected: {adm['admit + release'] / adm['admit (rejected)']:.2f}x")
    criterion_note()


if __name__ == "__main__":
    main()
