"""A synthetic agent workload: multi-call programs whose context grows call by call, with tool
time between calls, mixed with single calls (non-agent traffic).

No public agent trace is installable from the package registries here, so the program shapes
are modelled on published agent workloads (sources and which numbers are ours: BENCHMARKS.md,
"Agent programs"). A program of kind ``k`` has ``1 + Poisson(calls_mean - 1)`` calls (at most
``calls_max``). Call 1's prompt is the kind's shared system prompt plus a lognormal task; call
``j + 1``'s prompt is call ``j``'s prompt, plus its output, plus a lognormal tool observation,
so the context accumulates as in a ReAct loop, up to ``max_context`` tokens. Prefix block
hashes (one per ``block_tokens`` tokens, the simulator's ``hash_block_tokens``) name the whole
prefix, so call ``j + 1`` shares every full block of call ``j``'s prompt and all programs of a
kind share the system prompt's blocks. Tool time before each later call is lognormal per
kind. Program starts are Poisson. Everything comes from one seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from gpuplane.errors import InvalidRequest
from gpuplane.simulate.synthetic_llm import SyntheticLlm, synthetic_llm
from gpuplane.traces.llm import LlmTrace, TenantShare, from_columns


@dataclass(frozen=True)
class ProgramKind:
    """One kind of agent program: its share of programs and its shape (token means are
    lognormal means; ``*_sigma`` are log-space sigmas)."""

    name: str
    share: float
    calls_mean: float
    calls_max: int
    system_tokens: int
    task_tokens: float
    observation_tokens: float
    output_tokens: float
    tool_mean_s: float
    tool_sigma: float = 1.0
    length_sigma: float = 0.6


#: Defaults modelled on published agent workloads (see BENCHMARKS.md, "Agent programs").
DEFAULT_KINDS: tuple[ProgramKind, ...] = (
    ProgramKind("react", 0.5, 4.0, 8, 1024, 200.0, 250.0, 120.0, 1.0),
    ProgramKind("coding", 0.3, 12.0, 40, 2048, 600.0, 700.0, 200.0, 2.0, tool_sigma=1.2),
    ProgramKind("chat", 0.2, 3.0, 10, 512, 150.0, 100.0, 250.0, 5.0, tool_sigma=0.8),
)


@dataclass(frozen=True)
class AgentMix:
    """Agent programs (``programs`` of them, starting at ``program_rate`` per second) and
    ``single_requests`` single calls at ``single_rate`` per second (the synthetic generator's
    lognormal lengths, no prefix hashes). Programs and single calls draw tenants from
    ``tenants``; a program's calls share its tenant."""

    programs: int = 1000
    program_rate: float = 1.0
    single_requests: int = 5000
    single_rate: float = 5.0
    kinds: tuple[ProgramKind, ...] = DEFAULT_KINDS
    tenants: tuple[TenantShare, ...] = field(default_factory=lambda: (TenantShare("t0", 1.0),))
    max_context: int = 32_768
    block_tokens: int = 512
    seed: int = 0


def _check(spec: AgentMix) -> None:
    if spec.programs < 1 or not spec.program_rate > 0:
        raise InvalidRequest("programs must be >= 1 and program_rate > 0", field="programs")
    if spec.single_requests < 0 or not spec.single_rate > 0:
        raise InvalidRequest("single_requests must be >= 0 and single_rate > 0", field="single_requests")
    if not spec.kinds or any(k.share <= 0 or k.calls_mean < 1 or k.calls_max < 1 for k in spec.kinds):
        raise InvalidRequest("kinds need share > 0, calls_mean >= 1 and calls_max >= 1", field="kinds")
    if not spec.tenants or any(t.share <= 0 for t in spec.tenants):
        raise InvalidRequest("tenant shares must be > 0", field="tenants")


def _lognormal(mean: float, sigma: float, rng: np.random.Generator) -> float:
    return float(rng.lognormal(np.log(mean) - sigma**2 / 2, sigma))


@dataclass
class _Columns:
    """The calls generated so far, one entry per call."""

    arrival: list[float] = field(default_factory=list)
    prompt: list[int] = field(default_factory=list)
    output: list[int] = field(default_factory=list)
    tenant: list[int] = field(default_factory=list)
    workflow: list[int] = field(default_factory=list)
    tool_time: list[float] = field(default_factory=list)
    hashes: list[list[int]] = field(default_factory=list)


def _program(
    spec: AgentMix, kind: int, start: float, tenant: int, wf: int, cols: _Columns, rng: np.random.Generator
) -> None:
    """Appends the calls of program ``wf`` of ``spec.kinds[kind]``."""
    k = spec.kinds[kind]
    calls = min(1 + int(rng.poisson(k.calls_mean - 1)), k.calls_max)
    base = int(rng.integers(1 << 40, 1 << 62))
    shared = k.system_tokens // spec.block_tokens
    prompt = k.system_tokens + max(1, round(_lognormal(k.task_tokens, k.length_sigma, rng)))
    for j in range(calls):
        if prompt >= spec.max_context:
            break
        out = max(1, round(_lognormal(k.output_tokens, k.length_sigma, rng)))
        cols.arrival.append(start)
        cols.prompt.append(prompt)
        cols.output.append(out)
        cols.tenant.append(tenant)
        cols.workflow.append(wf)
        cols.tool_time.append(0.0 if j == 0 else _lognormal(k.tool_mean_s, k.tool_sigma, rng))
        full = prompt // spec.block_tokens
        cols.hashes.append([kind + 1 + (b << 8) if b < shared else base + b for b in range(full)])
        prompt += out + max(1, round(_lognormal(k.observation_tokens, k.length_sigma, rng)))


def _singles(spec: AgentMix) -> LlmTrace | None:
    if spec.single_requests == 0:
        return None
    return synthetic_llm(
        SyntheticLlm(
            requests=spec.single_requests, rate=spec.single_rate, tenants=spec.tenants, seed=spec.seed + 1
        )
    )


def agent_mix(spec: AgentMix) -> LlmTrace:
    """Generates the workload described by ``spec``."""
    _check(spec)
    rng = np.random.default_rng(spec.seed)
    starts = np.cumsum(rng.exponential(1.0 / spec.program_rate, spec.programs))
    shares = np.array([k.share for k in spec.kinds])
    kinds = rng.choice(len(shares), spec.programs, p=shares / shares.sum())
    tshares = np.array([t.share for t in spec.tenants])
    tenants = rng.choice(len(tshares), spec.programs, p=tshares / tshares.sum())
    cols = _Columns()
    for wf in range(spec.programs):
        _program(spec, int(kinds[wf]), float(starts[wf]), int(tenants[wf]), wf, cols, rng)
    singles = _singles(spec)
    if singles is not None:
        cols.arrival += singles.arrival.tolist()
        cols.prompt += singles.prompt.tolist()
        cols.output += singles.output.tolist()
        cols.tenant += singles.tenant.tolist()
        cols.workflow += [-1] * len(singles)
        cols.tool_time += [0.0] * len(singles)
        cols.hashes += [[] for _ in range(len(singles))]
    trace = from_columns(cols.arrival, cols.prompt, cols.output, f"agents(seed={spec.seed})", cols.hashes)
    tenant = np.array(cols.tenant, np.int64)
    priorities = np.array([t.priority for t in spec.tenants], np.int64)
    return replace(
        trace,
        tenant=tenant,
        priority=priorities[tenant],
        workflow=np.array(cols.workflow, np.int64),
        tool_time=np.array(cols.tool_time, np.float64),
        tenant_names=[t.name for t in spec.tenants],
        tenant_weights=[t.weight for t in spec.tenants],
    )
