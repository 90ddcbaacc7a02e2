"""``gpuplane.vllm.Scheduler``: vLLM's ``scheduler_cls`` with the core deciding each step.

The core's ``BatchScheduler`` decides which waiting requests are admitted, how many tokens each
scheduled request computes (token budget, chunked prefill, ``max_num_seqs``) and which running
requests are preempted; this class executes that plan with vLLM's own KV cache manager, so
vLLM's block hashes, prefix cache, KV usage and stats stay vLLM's. It translates only: the plan
is the core's, every id maps one vLLM request, and a divergence between the two raises.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from vllm.v1.core.kv_cache_manager import KVCacheBlocks
from vllm.v1.core.sched.async_scheduler import AsyncScheduler
from vllm.v1.core.sched.output import NewRequestData, SchedulerOutput
from vllm.v1.core.sched.scheduler import Scheduler as VllmScheduler
from vllm.v1.engine import EngineCoreEventType
from vllm.v1.request import Request, RequestStatus

import gpuplane
from gpuplane.errors import GpuplaneError, InvalidRequest
from gpuplane.vllm.config import batch_config, refuse_unsupported
from gpuplane.vllm.metadata import parse_metadata
from gpuplane.vllm.policy_file import policy_from_env

logger = logging.getLogger("gpuplane.vllm")
HASH_MASK = (1 << 63) - 1


def core_block_hash(block_hash: bytes) -> int:
    """vLLM's block hash as the core's 64-bit key (its first 8 bytes)."""
    return int.from_bytes(bytes(block_hash)[:8], "big") & HASH_MASK


class MirrorDiverged(GpuplaneError, RuntimeError):
    """vLLM's KV cache manager refused what the core planned (it should never happen)."""


class Scheduler(VllmScheduler):
    """vLLM's ``Scheduler`` whose every step is decided by gpuplane's core.

    ``vllm serve MODEL --scheduler-cls gpuplane.vllm.Scheduler`` or
    ``LLM(..., scheduler_cls="gpuplane.vllm.Scheduler")``. Request metadata comes from
    ``SamplingParams.extra_args`` (``tenant``, ``workflow``, ``deadline_s``,
    ``priority_class``); the policy file from ``GPUPLANE_POLICY``. vLLM's ``priority`` (lower
    first) is the core's band ``-priority`` (higher first).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Scheduler:
        vllm_config = kwargs.get("vllm_config", args[0] if args else None)
        if cls is Scheduler and vllm_config.scheduler_config.async_scheduling:
            cls = OverlappingScheduler
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        refuse_unsupported(self.vllm_config, self.kv_cache_config)
        policy = policy_from_env()
        kv_blocks = self.kv_cache_manager.block_pool.get_num_free_blocks()
        self.core = gpuplane.BatchScheduler(batch_config(self, policy, kv_blocks), policy=policy.engine())
        self._core_id: dict[str, int] = {}
        self._vllm_id: dict[int, str] = {}
        self._next_id = 0

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
        self._core_id[request.request_id] = core_request.id
        self._vllm_id[core_request.id] = request.request_id

    def _core_request(self, request: Request) -> gpuplane.Request:
        if request.use_structured_output:
            raise InvalidRequest(
                "structured_outputs: not supported by gpuplane.vllm.Scheduler", "structured_outputs"
            )
        params = request.sampling_params
        meta = parse_metadata(params.extra_args if params is not None else None)
        self._next_id += 1
        deadline = None if meta.deadline_s is None else request.arrival_time + meta.deadline_s
        return gpuplane.Request(
            self._next_id,
            meta.tenant,
            request.num_prompt_tokens,
            request.max_tokens,
            priority=-request.priority,
            arrival=request.arrival_time,
            ttft_deadline=deadline,
            workflow=meta.workflow,
            block_hashes=[core_block_hash(h) for h in request.block_hashes],
            priority_class=meta.priority_class,
        )

    def _reject(self, request: Request, error: Exception) -> None:
        logger.warning("gpuplane.vllm: rejected request %s: %s", request.request_id, error)
        # vLLM finishes these with FINISHED_ERROR (and an output) in the next update.
        self.grammar_compile_error_reqs.add(request.request_id)

    def _free_request(self, request: Request, delay_free_blocks: bool = False) -> Any:
        core_id = self._core_id.pop(request.request_id, None)
        if core_id is not None:
            del self._vllm_id[core_id]
            if core_id in self.core:  # stopped by vLLM (EOS, stop token, abort, error)
                self.core.abort(core_id)
        return super()._free_request(request, delay_free_blocks)

    # --- the step -------------------------------------------------------------------------

    def schedule(self, throttle_prefills: bool = False) -> SchedulerOutput:
        """Plans the step with the core and executes the plan with vLLM's KV cache manager."""
        self.current_step += 1
        self.kv_cache_manager.new_step_starts()
        self.core.set_time(max(time.time(), self.core.now))
        plan = self.core.schedule()
        now = time.monotonic()
        for core_id in plan.preempted.tolist():
            self._preempt(self.requests[self._vllm_id[core_id]], now)
        step = _Step()
        admitted = set(plan.admitted.tolist())
        ids = plan.ids.tolist()
        for core_id, tokens in zip(ids, plan.num_tokens.tolist(), strict=True):
            request = self.requests[self._vllm_id[core_id]]
            if core_id in admitted:
                self._admit(request, tokens, plan.blocks(core_id), step, now)
            elif request.is_prefill_chunk or plan.blocks(core_id)[0]:
                self._grow(request, tokens, step)
            else:  # a decode token within its last block: vLLM's KV manager has nothing to do
                step.add(request, tokens, self.kv_cache_manager.empty_kv_cache_blocks, step.running)
        self._expect_one_token_each(ids, plan.samples.tolist())
        return self._output(step)

    def _expect_one_token_each(self, ids: list[int], samples: list[bool]) -> None:
        """Tells the core now that each sampling request generates one token this step (true
        without speculative decoding, which is refused): so the core's state is settled between
        steps, and with async scheduling the next step is planned before this one's output
        arrives, as vLLM's own AsyncScheduler does with placeholders. A request that vLLM
        stops (EOS, stop token, its last token) leaves the core in ``_free_request``."""
        expected = {}
        for core_id, sampled in zip(ids, samples, strict=True):
            if sampled and not self._is_last_token(self.requests[self._vllm_id[core_id]]):
                expected[core_id] = 1
        self.core.update(expected)

    @staticmethod
    def _is_last_token(request: Request) -> bool:
        """Whether this step's token is the request's last (``max_tokens``). The core is not told
        of it: vLLM finishes the request when the token arrives, and the core then frees its
        sequence slot and KV with vLLM, not a step earlier (which, with async scheduling, would
        admit a request into a slot vLLM still holds)."""
        return request.num_output_tokens + request.num_output_placeholders + 1 >= request.max_tokens

    def _preempt(self, request: Request, now: float) -> None:
        self.running.remove(request)
        self._preempt_request(request, now)

    def _grow(self, request: Request, tokens: int, step: _Step) -> None:
        blocks = self.kv_cache_manager.allocate_slots(request, tokens)
        if blocks is None:
            raise MirrorDiverged(f"vLLM has no KV blocks for running request {request.request_id}")
        step.add(request, tokens, blocks, step.running)

    def _admit(
        self, request: Request, tokens: int, core_blocks: tuple[list[int], list[int]], step: _Step, now: float
    ) -> None:
        hit_blocks = len(core_blocks[1])
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
        if request.prefill_stats and request.num_preemptions <= 0:
            request.prefill_stats.set(
                num_prompt_tokens=request.num_prompt_tokens,
                num_local_cached_tokens=hit_tokens,
                num_external_cached_tokens=0,
            )
        if self.log_stats:
            self.kv_cache_manager.record_prefix_cache_stats(request, hit_tokens)
            request.record_event(EngineCoreEventType.SCHEDULED, now)
        self.waiting.remove_request(request)
        self.running.append(request)
        resumed = request.status == RequestStatus.PREEMPTED
        request.status = RequestStatus.RUNNING
        request.num_computed_tokens = hit_tokens
        all_blocks = self.kv_cache_manager.get_blocks(request.request_id)
        step.add(request, tokens, all_blocks, step.resumed if resumed else step.new)

    def _output(self, step: _Step) -> SchedulerOutput:
        new_reqs = [
            NewRequestData.from_request(r, step.blocks[r.request_id].get_block_ids(), uses_mrope=False)
            for r in step.new
        ]
        cached = self._make_cached_request_data(step.running, step.resumed, step.tokens, {}, step.blocks)
        if not self.use_v2_model_runner:
            self.prev_step_scheduled_req_ids = set(step.tokens)
        self.kv_cache_manager.take_boundary_state_offloads()
        copies, retained = self.kv_cache_manager.take_kv_cache_block_copies()
        if copies:
            self._free_cow_retained_blocks(retained, self.sched_step_seq + 1)
        output = SchedulerOutput(
            scheduled_new_reqs=new_reqs,
            scheduled_cached_reqs=cached,
            num_scheduled_tokens=step.tokens,
            total_num_scheduled_tokens=sum(step.tokens.values()),
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
        self._update_after_schedule(output)
        return output


class OverlappingScheduler(Scheduler, AsyncScheduler):
    """``Scheduler`` with vLLM's async scheduling: the engine plans step N+1 while step N runs
    (chosen by ``Scheduler`` itself when ``async_scheduling`` is on)."""


class _Step:
    """The vLLM side of one step being built."""

    def __init__(self) -> None:
        self.new: list[Request] = []
        self.resumed: list[Request] = []
        self.running: list[Request] = []
        self.tokens: dict[str, int] = {}
        self.blocks: dict[str, KVCacheBlocks] = {}

    def add(self, request: Request, tokens: int, blocks: KVCacheBlocks, kind: list[Request]) -> None:
        kind.append(request)
        self.tokens[request.request_id] = tokens
        self.blocks[request.request_id] = blocks
