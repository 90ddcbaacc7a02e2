"""program_las's starvation bound swept against fcfs: ``c,beta`` pairs (``starvation_s``,
``starvation_ratio``) on the README's agent example and on bench_programs.py's 1 and 4 replica
mixes; simulated, so deterministic.

    python benches/sweep_starvation.py all 10,0.5 120,0 120,0.5 10,1
    python benches/sweep_starvation.py all 120,0 --engine cache_discount=0 --engine cache_discount=1

Each ``--engine key=value[,key=value]`` is one more program_las variant (engine options on top
of each pair).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_programs import FLEET, figures, mix
from gpuplane.simulate.agent_programs import AgentMix, agent_mix
from gpuplane.simulate.llm import simulate_llm


def readme_scenario():
    trace = agent_mix(AgentMix(300, 1.9, 1200, 7.7, seed=0))
    return "readme", trace, {"gpu": "H100-80GB", "model": "llama-3-8b", "replicas": 1, "window_s": 10.0}


def bench_scenario(replicas: int):
    return f"bench{replicas}", agent_mix(mix(400, replicas, 1.6)), {**FLEET, "replicas": replicas}


def run(trace, config, policy: str, **engine) -> dict:
    engine = {"max_running": 64, **engine}
    r = simulate_llm(trace, {**config, "policy": policy, "engine": engine})
    return {**figures(r, float(trace.arrival.max())), "hit": r["summary"]["prefix_hit_rate"]}


def ratios(name: str, c: float, beta: float, base: dict, r: dict) -> str:
    return (
        f"{name} c={c:5.0f} beta={beta:4.2f}  hit {100 * r['hit']:4.1f} %"
        f"  p50 x{base['program_p50_s'] / r['program_p50_s']:.2f}"
        f"  p99 x{base['program_p99_s'] / r['program_p99_s']:.2f}"
        f"  single p99 x{r['single_p99_s'] / base['single_p99_s']:.2f}"
        f"  arriving x{r['arriving_tps'] / base['arriving_tps']:.3f}"
        f"  run x{r['output_tps'] / base['output_tps']:.3f}"
        f"  rps x{r['throughput_rps'] / base['throughput_rps']:.3f}"
    )


def engine_option(spec: str) -> dict:
    pairs = (kv.split("=", 1) for kv in spec.split(","))
    return {key: float(value) for key, value in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["readme", "b1", "b4", "all"])
    parser.add_argument("pairs", nargs="+", help="c,beta: starvation_s,starvation_ratio")
    parser.add_argument(
        "--engine", action="append", default=[], help="key=value[,...]: a program_las variant"
    )
    args = parser.parse_args()
    grid = [tuple(map(float, pair.split(","))) for pair in args.pairs]
    variants = [engine_option(kv) for kv in args.engine] or [{}]
    chosen = {
        "readme": [readme_scenario],
        "b1": [lambda: bench_scenario(1)],
        "b4": [lambda: bench_scenario(4)],
    }
    builders = chosen.get(args.scenario) or [
        readme_scenario,
        lambda: bench_scenario(1),
        lambda: bench_scenario(4),
    ]
    for build in builders:
        name, trace, config = build()
        base = run(trace, config, "fcfs")
        print(
            f"{name} fcfs hit {100 * base['hit']:4.1f} % p50 {base['program_p50_s']:.1f}"
            f" p99 {base['program_p99_s']:.1f} rps {base['throughput_rps']:.3f}",
            flush=True,
        )
        for c, beta in grid:
            for extra in variants:
                r = run(trace, config, "program_las", starvation_s=c, starvation_ratio=beta, **extra)
                label = " ".join(f"{k}={v:g}" for k, v in extra.items())
                print(f"{ratios(name, c, beta, base, r)}  {label}".rstrip(), flush=True)


if __name__ == "__main__":
    main()
