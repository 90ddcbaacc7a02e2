"""``gpuplane.vllm.Scheduler``: vLLM's ``scheduler_cls`` with the core deciding each step.

The core's ``BatchScheduler`` decides which waiting requests are admitted, how many tokens each
scheduled request computes (token budget, chunked prefill, ``max_num_seqs``) and which running
requests are preempted; this class executes that plan with vLLM's own KV cache manager, so
vLLM's block hashes, prefix cache, KV usage and stats stay vLLM's. It translates only: the plan
is the core's, every id maps one vLLM request, and a divergence between the two raises.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from vllm.v1.core.kv_cache_manager import KVCacheBlocks
from vllm.v1.core.sched.async_scheduler import AsyncScheduler
from vllm.v1.core.sched.output import NewRequestData, SchedulerOutput
from vllm.v1.core.sched.scheduler import Scheduler as VllmScheduler
from vllm.v1.engine import EngineCoreEventType, EngineCoreOutputs
from vllm.v1.outputs import ModelRunnerOutput
from vllm.v1.request import Request, RequestStatus

import gpuplane
from gpuplane.errors import GpuplaneError, InvalidRequest
from gpuplane.vllm.blocks import DecodeBlocks
from gpuplane.vllm.check import FQCN, is_registered
from gpuplane.vllm.config import batch_config, refuse_unsupported
from gpuplane.vllm.metadata import core_request, parse_metadata
from gpuplane.vllm.outputs import is_plain, update_plain
from gpuplane.vllm.policy_file import policy_from_env
from gpuplane.vllm.sampled import stop_tokens
from gpuplane.vllm.service_policy import engine_policy
from gpuplane.vllm.service_report import EngineLoad, start_reporting
from gpuplane.vllm.step import PlannedStep, StepRequests

logger = logging.getLogger("gpuplane.vllm")
HASH_MASK = (1 << 63) - 1
# Set to 1 (the vLLM tests do) to compare, every step, the core's counters that the step is
# built from with vLLM's own requests, raising ``MirrorDiverged`` where they differ.
CHECK_MIRROR_ENV = "GPUPLANE_VLLM_CHECK_MIRROR"


def core_block_hash(block_hash: bytes) -> int:
    """vLLM's block hash as the core's 64-bit key (its first 8 bytes)."""
    return int.from_bytes(bytes(block_hash)[:8], "big") & HASH_MASK


def _configs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``(vllm_config, kv_cache_config)`` of vLLM's ``Scheduler.__init__`` arguments."""
    vllm_config = kwargs["vllm_config"] if "vllm_config" in kwargs else args[0]
    kv_cache_config = kwargs["kv_cache_config"] if "kv_cache_config" in kwargs else args[1]
    return vllm_config, kv_cache_config


class MirrorDiverged(GpuplaneError, RuntimeError):
    """vLLM's KV cache manager refused what the core planned (it should never happen)."""


class Scheduler(VllmScheduler):
    """vLLM's ``Scheduler`` whose every step is decided by gpuplane's core.

    ``vllm serve MODEL --scheduler-cls gpuplane.vllm.Scheduler`` or
    ``LLM(..., scheduler_cls="gpuplane.vllm.Scheduler")``. Request metadata comes from
    ``SamplingParams.extra_args`` (``tenant``, ``workflow``, ``deadline_s``,
    ``priority_class``); the policy file from ``GPUPLANE_POLICY``, tenants and classes from it
    or from a running gpuplane service (``GPUPLANE_SERVICE``), which is then told the tokens
    served per tenant (``gpuplane.vllm.service_report``). vLLM's ``priority`` (lower first) is
    the core's band ``-priority`` (higher first).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Scheduler:
        vllm_config, _ = _configs(args, kwargs)
        if cls is Scheduler and vllm_config.scheduler_config.async_scheduling:
            cls = OverlappingScheduler
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        refuse_unsupported(*_configs(args, kwargs))
        super().__init__(*args, **kwargs)
        policy = policy_from_env()
        kv_blocks = self.kv_cache_manager.block_pool.get_num_free_blocks()
        engine = engine_policy(policy)
        self.core = gpuplane.BatchScheduler(batch_config(self, policy, kv_blocks), policy=engine)
        if not is_registered(self.vllm_config):
            logger.warning(
                "gpuplane.vllm: %s is not in --logits-processors, so a request with malformed "
                "metadata finishes with finish_reason 'error' (HTTP 500 on the OpenAI server) "
                "instead of being refused at admission (HTTP 400)",
                FQCN,
            )
        self._core_id: dict[str, int] = {}
        self._by_core_id: dict[int, Request] = {}
        self._next_id = 0
        self._decode_blocks = DecodeBlocks(self.kv_cache_manager)
        self._step_requests = StepRequests()
        self._check_mirror = os.environ.get(CHECK_MIRROR_ENV) == "1"
        # update_from_output's short path (gpuplane.vllm.sampled) stands for vLLM's plain token
        # update, not the AsyncScheduler's (which also moves placeholders and caches blocks).
        # It hashes blocks of vLLM's hash_block_size, the size of the engine's block hasher.
        self.sampled_fast_path = (
            type(self)._update_request_with_output is VllmScheduler._update_request_with_output
        )
        self.stop_tokens: dict[str, Any] = {}  # per request id: gpuplane.vllm.sampled.stop_tokens
        self._reporter = start_reporting(self._engine_load, model=str(self.vllm_config.model_config.model))

    def _engine_load(self) -> EngineLoad:
        """What the service is told (from the reporting thread): vLLM's queues and KV usage,
        and per tenant the weighted tokens the core served and the requests waiting in it."""
        tenants = self.core.metrics().tenants.values()
        return EngineLoad(
            waiting=len(self.waiting),
            running=len(self.running),
            kv_usage=self.kv_cache_manager.usage,
            tenant_service={t.tenant: t.service for t in tenants},
            tenant_waiting={t.tenant: t.waiting for t in tenants if t.waiting},
        )

    def shutdown(self) -> None:
        """vLLM's shutdown, then a last report to the service (``GPUPLANE_SERVICE``)."""
        super().shutdown()
        if self._reporter is not None:
            self._reporter.stop()
            self._reporter = None

    # --- requests -------------------------------------------------------------------------

    def add_request(self, request: Request) -> None:
        """Adds a request to vLLM and the core; bad metadata finishes it with an error."""
        try:
            core_request = self._core_request(request)
            self.core.add(core_request)
        except GpuplaneError as e:
            super().add_request(request)
            self._reject(request, e)
            return
        super().add_request(request)
        self.stop_tokens[request.request_id] = stop_tokens(request)
        self._core_id[request.request_id] = core_request.id
        self._by_core_id[core_request.id] = request

    def _core_request(self, request: Request) -> gpuplane.Request:
        if request.use_structured_output:
            raise InvalidRequest(
                "structured_outputs: not supported by gpuplane.vllm.Scheduler", "structured_outputs"
            )
        params = request.sampling_params
        meta = parse_metadata(params.extra_args if params is not None else None)
        self._next_id += 1
        return core_request(
            self._next_id,
            meta,
            request.num_prompt_tokens,
            request.max_tokens,
            arrival=request.arrival_time,
            priority=-request.priority,
            block_hashes=[core_block_hash(h) for h in request.block_hashes],
        )

    def _reject(self, request: Request, error: Exception) -> None:
        logger.warning("gpuplane.vllm: rejected request %s: %s", request.request_id, error)
        # vLLM finishes these with FINISHED_ERROR (and an output) in the next update.
        self.grammar_compile_error_reqs.add(request.request_id)

    def _free_request(self, request: Request, delay_free_blocks: bool = False) -> Any:
        core_id = self._core_id.pop(request.request_id, None)
        self.stop_tokens.pop(request.request_id, None)
        if core_id is not None:
            del self._by_core_id[core_id]
            if core_id in self.core:  # stopped by vLLM (EOS, stop token, abort, error)
                self.core.abort(core_id)
        return super()._free_request(request, delay_free_blocks)

    # --- the step -------------------------------------------------------------------------

    def schedule(self, throttle_prefills: bool = False) -> SchedulerOutput:
        """Plans the step with the core and executes the plan with vLLM's KV cache manager."""
        self.current_step += 1
        self.kv_cache_manager.new_step_starts()
        # The core counts each sampled token now (expect_sampled; not the last one of a
        # request: vLLM finishes that request when it arrives), as vLLM's AsyncScheduler does
        # with placeholders: the next step can be planned before this one's output arrives.
        plan = self.core.schedule(now=time.time(), expect_sampled=True)
        now = time.monotonic()
        for core_id in plan.preempted.tolist():
            self._preempt(self._by_core_id[core_id], now)
        step = PlannedStep(plan, self._step_requests.of(plan, self._by_core_id), self.block_size)
        if self._check_mirror and (differences := step.mirror_differences()):
            raise MirrorDiverged(f"step {self.current_step}: " + "; ".join(differences[:5]))
        allocating, caching = step.running_that_allocate()
        self._grow_all(step, allocating)
        self._cache_filled(step, caching)
        for request, tokens, cached_blocks in step.admitted():
            self._admit(request, tokens, cached_blocks, step, now)
        return self._output(step)

    def update_from_output(
        self, scheduler_output: SchedulerOutput, model_runner_output: ModelRunnerOutput
    ) -> dict[int, EngineCoreOutputs]:
        """vLLM's ``update_from_output``; a step with nothing but sampled tokens takes the
        short path of ``gpuplane.vllm.outputs``."""
        if is_plain(self, scheduler_output, model_runner_output):
            return update_plain(self, scheduler_output, model_runner_output)
        return super().update_from_output(scheduler_output, model_runner_output)

    def _preempt(self, request: Request, now: float) -> None:
        self.running.remove(request)
        self._preempt_request(request, now)

    def _grow_all(self, step: PlannedStep, allocating: list[int]) -> None:
        """KV blocks for the running requests that allocate: those one new block serves in
        one pool call (``DecodeBlocks``), the others through vLLM's ``allocate_slots``."""
        requests = [step.requests[i] for i in allocating]
        ends = [step.computed_before[i] + step.tokens[i] for i in allocating]
        bulk, others = self._decode_blocks.split(requests, ends)
        if bulk and len(bulk) > self.kv_cache_manager.block_pool.get_num_free_blocks():
            raise MirrorDiverged("vLLM has fewer free KV blocks than the core planned")
        grown = self._decode_blocks.grow([requests[j] for j in bulk]) if bulk else []
        for j, ids in zip(bulk, grown, strict=True):
            step.grown[allocating[j]] = ids
        for j in others:
            i = allocating[j]
            step.grown[i] = self._grow(step.requests[i], step.tokens[i]).get_block_ids(allow_none=True)

    def _grow(self, request: Request, tokens: int) -> KVCacheBlocks:
        blocks = self.kv_cache_manager.allocate_slots(request, tokens)
        if blocks is None:
            raise MirrorDiverged(f"vLLM has no KV blocks for running request {request.request_id}")
        return blocks

    def _cache_filled(self, step: PlannedStep, caching: list[int]) -> None:
        """What ``allocate_slots`` does for the requests whose step fills a block and needs
        no new one: their full blocks are cached (so a prefix hit finds them this step)."""
        requests = [step.requests[i] for i in caching]
        ends = [step.computed_before[i] + step.tokens[i] for i in caching]
        if not self._decode_blocks.cache_filled(requests, ends):
            for request, end in zip(requests, ends, strict=True):
                self.kv_cache_manager.coordinator.cache_blocks(request, min(end, request.num_tokens))

    def _admit(self, request: Request, tokens: int, hit_blocks: int, step: PlannedStep, now: float) -> None:
        computed, _, _ = self.kv_cache_manager.get_computed_blocks(request)
        if len(computed.blocks[0]) < hit_blocks:
            raise MirrorDiverged(f"vLLM lost prefix blocks the core reuses for {request.request_id}")
        hits = KVCacheBlocks((computed.blocks[0][:hit_blocks],))
        hit_tokens = hit_blocks * self.block_size
        blocks = self.kv_cache_manager.allocate_slots(
            request, tokens, num_new_computed_tokens=hit_tokens, new_computed_blocks=hits
        )
        if blocks is None:
            raise MirrorDiverged(f"vLLM has no KV blocks to admit {request.request_id}")
        self._record_admission(request, hit_tokens, now)
        self.waiting.remove_request(request)
        self.running.append(request)
        resumed = request.status == RequestStatus.PREEMPTED
        request.status = RequestStatus.RUNNING
        request.num_computed_tokens = hit_tokens
        blocks = self.kv_cache_manager.get_blocks(request.request_id)
        (step.resumed if resumed else step.new).append((request, blocks))

    def _record_admission(self, request: Request, hit_tokens: int, now: float) -> None:
        if request.prefill_stats and request.num_preemptions <= 0:
            request.prefill_stats.set(
                num_prompt_tokens=request.num_prompt_tokens,
                num_local_cached_tokens=hit_tokens,
                num_external_cached_tokens=0,
            )
        if self.log_stats:
            self.kv_cache_manager.record_prefix_cache_stats(request, hit_tokens)
            request.record_event(EngineCoreEventType.SCHEDULED, now)

    def _output(self, step: PlannedStep) -> SchedulerOutput:
        new_reqs = [NewRequestData.from_request(r, b.get_block_ids(), uses_mrope=False) for r, b in step.new]
        num_scheduled_tokens = step.num_scheduled_tokens()
        v1_runner = not self.use_v2_model_runner
        cached = step.cached_request_data(self.prev_step_scheduled_req_ids if v1_runner else None)
        if v1_runner:
            self.prev_step_scheduled_req_ids = step.known.id_set()
        self.kv_cache_manager.take_boundary_state_offloads()
        copies, retained = self.kv_cache_manager.take_kv_cache_block_copies()
        if copies:
            self._free_cow_retained_blocks(retained, self.sched_step_seq + 1)
        output = SchedulerOutput(
            scheduled_new_reqs=new_reqs,
            scheduled_cached_reqs=cached,
            num_scheduled_tokens=num_scheduled_tokens,
            total_num_scheduled_tokens=sum(step.tokens),
            scheduled_spec_decode_tokens={},
            scheduled_encoder_inputs={},
            preempted_req_ids=self.reset_preempted_req_ids,
            finished_req_ids=self.finished_req_ids,
            free_encoder_mm_hashes=self.encoder_cache_manager.get_freed_mm_hashes(),
            new_block_ids_to_zero=self._get_new_block_ids_to_zero(),
            kv_cache_block_copies=copies or None,
            num_spec_tokens_to_schedule=0,
            ec_manager_metadata=self.encoder_cache_manager.get_manager_metadata(),
        )
        self._advance(step)
        return output

    def _advance(self, step: PlannedStep) -> None:
        """vLLM's ``_update_after_schedule`` for this step."""
        step.advance(self.sched_step_seq if self.defer_block_free else None)
        self.finished_req_ids = set()
        self.reset_preempted_req_ids = set()


class OverlappingScheduler(Scheduler, AsyncScheduler):
    """``Scheduler`` with vLLM's async scheduling: the engine plans step N+1 while step N runs
    (chosen by ``Scheduler`` itself when ``async_scheduling`` is on)."""

    def _advance(self, step: PlannedStep) -> None:
        super()._advance(step)
        step.add_placeholders()
