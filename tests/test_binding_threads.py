"""The binding never waits on a Rust lock while holding the GIL, and never runs Python code
(an exception's constructor) while holding a Rust lock. Each scenario runs in a subprocess
under a watchdog: a deadlock shows as a timeout, not as a hung test run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

WATCHDOG_S = 120

PRELUDE = """
import sys, threading
import gpuplane
from gpuplane import GpuplaneError
sys.setswitchinterval(1e-6)  # hand the GIL over as often as possible

def loop(n, call):
    def run():
        for _ in range(n):
            try:
                call()
            except GpuplaneError:
                pass
    return run

def together(*calls, n=20_000):
    threads = [threading.Thread(target=loop(n, c)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("ok")
"""

SCENARIOS = {
    "scheduler_error_and_getter": """
s = gpuplane.BatchScheduler(gpuplane.BatchConfig())
together(lambda: s.set_time(-1.0), lambda: s.now, lambda: s.set_time(-1.0), lambda: len(s))
""",
    "shared_policy_cluster_and_scheduler": """
p = gpuplane.Policy()
p.add_tenant("a")
c = gpuplane.Cluster()
c.set_policy_engine(p, now=0.0)
s = gpuplane.BatchScheduler(gpuplane.BatchConfig(), policy=p)
w = gpuplane.Workload("w", memory_mib=1, tenant="nobody")
together(
    lambda: p.admit("r", "a", tokens=-1.0, now=0.0),
    lambda: p.remove_tenant("missing"),
    lambda: c.place(w, now=1.0),
    lambda: s.add(gpuplane.Request(1, "nobody", 1, 1)),
    lambda: (len(p), "a" in p, repr(p), c.policy_engine, s.policy_engine),
)
""",
    "router_error_and_len": """
r = gpuplane.Router()
r.register("x", model="m")
together(lambda: r.unregister("missing"), lambda: len(r), lambda: r.route(model="none"), lambda: repr(r))
""",
    "cluster_error_and_getters": """
c = gpuplane.Cluster()
c.add_node("n", [gpuplane.GpuSpec("H100-80GB", 80_000)])
together(
    lambda: c.release("missing", now=0.0),
    lambda: (c.policy, c.seed, len(c), "x" in c, repr(c), c.workloads(), c.gpu_ids()),
    lambda: c.set_workload_distribution([(gpuplane.Workload("s", memory_mib=1), -1.0)]),
)
""",
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_threads_never_deadlock(name: str) -> None:
    script = PRELUDE + textwrap.dedent(SCENARIOS[name])
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=WATCHDOG_S
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: threads deadlocked (no progress in {WATCHDOG_S} s)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
