"""``update_from_output`` of ``gpuplane.vllm.Scheduler`` for the steps its fast path runs.

vLLM's own ``update_from_output`` walks every scheduled request through every feature vLLM
has (speculative decoding, pooling, encoder inputs, grammars, KV connectors, logprobs, ...).
Most of those are refused at start-up (``config.refuse_unsupported``) or rejected per request
(structured output), so a step whose model output carries none of the rest (no logprobs, no
NaN counts, no connector output) takes this path: per request only what vLLM itself does for
a plain sampled token (append it, vLLM's stop check, the output record, freeing a finished
request). Any other step goes to vLLM's own method.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from vllm.distributed.kv_events import KVEventBatch
from vllm.v1.core.sched.output import SchedulerOutput
from vllm.v1.core.sched.utils import remove_all
from vllm.v1.engine import EngineCoreOutput, EngineCoreOutputs
from vllm.v1.outputs import ModelRunnerOutput
from vllm.v1.request import Request, RequestStatus

from gpuplane.vllm.sampled import append_token, takes_token_only


def is_plain(scheduler: Any, output: SchedulerOutput, model: ModelRunnerOutput) -> bool:
    """Whether this step's results need nothing but sampled tokens handled."""
    perf = scheduler.perf_metrics
    return not (
        model.logprobs is not None
        or model.prompt_logprobs_dict
        or model.prompt_token_id_logprobs_dict
        or model.pooler_output
        or model.kv_connector_output is not None
        or model.ec_connector_output is not None
        or model.num_nans_in_logits
        or model.aux_output_connector_output
        or model.sampling_masks is not None
        or output.scheduled_spec_decode_tokens
        or scheduler.defer_block_free
        or scheduler.connector is not None
        or scheduler.ec_connector is not None
        or scheduler.aux_output_connector is not None
        or (perf is not None and perf.is_enabled())
    )


class _Outcome:
    """What the walk over the step's requests produced."""

    def __init__(self, log_stats: bool) -> None:
        self.log_stats = log_stats
        self.outputs: dict[int, list[EngineCoreOutput]] = defaultdict(list)
        self.stopped_running: set[Request] = set()
        self.stopped_waiting: set[Request] = set()


def update_plain(
    scheduler: Any, output: SchedulerOutput, model: ModelRunnerOutput
) -> dict[int, EngineCoreOutputs]:
    """vLLM's ``update_from_output`` for a step ``is_plain`` accepts."""
    outcome = _Outcome(scheduler.log_stats)
    _apply_tokens(scheduler, output, model, outcome)
    _drop_stopped(scheduler, outcome)
    _finish_errors(scheduler, outcome)
    _publish_kv_events(scheduler)
    return _engine_outputs(scheduler, outcome, model)


def _apply_tokens(
    scheduler: Any, output: SchedulerOutput, model: ModelRunnerOutput, outcome: _Outcome
) -> None:
    requests, index, sampled = scheduler.requests, model.req_id_to_index, model.sampled_token_ids
    short = scheduler.sampled_fast_path and bool(sampled)
    stops, max_len, block, log_stats = (
        scheduler.stop_tokens,
        scheduler.max_model_len,
        scheduler.hash_block_size,
        scheduler.log_stats,
    )
    for req_id, n in output.num_scheduled_tokens.items():
        request = requests.get(req_id)
        if request is None:
            continue  # finished (aborted) while its step ran
        if short:
            token_ids = sampled[index[req_id]]
            one = len(token_ids) == 1
            if one and takes_token_only(request, token_ids[0], stops[req_id], max_len, log_stats):
                append_token(request, n, token_ids[0], block)
                outcome.outputs[0].append(EngineCoreOutput(req_id, token_ids))
                continue
        request.num_in_flight_tokens -= n
        stale = request.num_stale_output_tokens > 0
        if stale:  # preempted while its step ran (async scheduling)
            request.num_stale_output_tokens -= n
        if request.is_finished() or (stale and request.drop_stale_output):
            continue
        token_ids = sampled[index[req_id]] if sampled else []
        if token_ids:  # a prefill chunk samples nothing and reports nothing
            _apply_one(scheduler, request, token_ids, stale, outcome)


def _apply_one(
    scheduler: Any, request: Request, token_ids: list[int], stale: bool, outcome: _Outcome
) -> None:
    running = request.status == RequestStatus.RUNNING
    token_ids, stopped = scheduler._update_request_with_output(request, token_ids, is_stale=stale)
    prefill_stats = request.take_prefill_stats()
    if prefill_stats is not None:
        prefill_stats.finalize(scheduler.kv_cache_manager.estimate_cached_tokens(request))
    finish_reason = None
    if stopped:
        finish_reason = request.get_finished_reason()
        if scheduler._handle_stopped_request(request):
            scheduler._free_request(request)
        (outcome.stopped_running if running else outcome.stopped_waiting).add(request)
    outcome.outputs[request.client_index].append(
        EngineCoreOutput(
            request_id=request.request_id,
            new_token_ids=token_ids,
            finish_reason=finish_reason,
            stop_reason=request.stop_reason,
            events=request.take_events() if outcome.log_stats else None,
            prefill_stats=prefill_stats,
            trace_headers=request.trace_headers,
            num_nans_in_logits=request.num_nans_in_logits,
        )
    )


def _drop_stopped(scheduler: Any, outcome: _Outcome) -> None:
    if outcome.stopped_running:
        scheduler.running = remove_all(scheduler.running, outcome.stopped_running)
    if outcome.stopped_waiting:
        scheduler.waiting.remove_requests(outcome.stopped_waiting)
        scheduler.kv_holding_waiting.remove_requests(outcome.stopped_waiting)
        scheduler.deferred_waiting.difference_update(outcome.stopped_waiting)


def _finish_errors(scheduler: Any, outcome: _Outcome) -> None:
    """Finishes the requests rejected since the last step (bad metadata) with an error."""
    error_ids = set(scheduler.grammar_compile_error_reqs) | set(scheduler.encoder_cache_mismatch_reqs)
    scheduler.grammar_compile_error_reqs.clear()
    scheduler.encoder_cache_mismatch_reqs.clear()
    if not error_ids:
        return
    for request in scheduler.finish_requests(error_ids, RequestStatus.FINISHED_ERROR):
        outcome.outputs[request.client_index].append(
            EngineCoreOutput(
                request_id=request.request_id,
                new_token_ids=[],
                finish_reason=request.get_finished_reason(),
                events=request.take_events(),
                trace_headers=request.trace_headers,
            )
        )


def _publish_kv_events(scheduler: Any) -> None:
    events = scheduler.kv_cache_manager.take_events()
    if events:
        scheduler.kv_event_publisher.publish(KVEventBatch(ts=time.time(), events=events))


def _engine_outputs(
    scheduler: Any, outcome: _Outcome, model: ModelRunnerOutput
) -> dict[int, EngineCoreOutputs]:
    outputs = {client: EngineCoreOutputs(outputs=outs) for client, outs in outcome.outputs.items()}
    finished = scheduler.finished_req_ids_dict
    if finished:
        for client, ids in finished.items():
            if (eco := outputs.get(client)) is not None:
                eco.finished_requests = ids
            else:
                outputs[client] = EngineCoreOutputs(finished_requests=ids)
        finished.clear()
    stats = scheduler.make_stats(cudagraph_stats=model.cudagraph_stats)
    if stats is not None:
        if (eco := next(iter(outputs.values()), None)) is None:
            outputs[0] = eco = EngineCoreOutputs()
        eco.scheduler_stats = stats
    return outputs
