"""The short path of ``update_from_output`` for a decode request's one sampled token.

For a running request that gets one sampled token which does not stop it (vLLM's
``check_stop``: not a stop or EOS token, not at ``max_tokens`` or ``max_model_len``), with no
prefill stats, events, trace headers, stop reason or NaN count to report, vLLM's
``update_from_output`` does only this: the in-flight count drops by the scheduled tokens, the
token is appended to the request's output and all-token lists, vLLM's block hasher runs (it
returns nothing unless the token completes a hash block), and the output record carries the
request id and the token. ``takes_token_only`` says whether a request is such a one, from
vLLM's own fields, and ``append_token`` does that (the hasher only where a block completes);
every other request takes vLLM's walk (``gpuplane.vllm.outputs``). Plain attribute reads and
writes, no calls into vLLM's per-request methods: that is the saving (about 6 µs a request
in vLLM's path). The equivalence with vLLM's own scheduler (tokens, block hashes, finishes) is
checked in tests/test_vllm_engine.py and tests/test_vllm_blocks.py.
"""

from __future__ import annotations

from collections.abc import Container

from vllm.v1.request import Request, RequestStatus

_RUNNING = RequestStatus.RUNNING


class _AlwaysChecked:
    """The stop tokens of a request whose stop check needs more than its last token."""

    def __contains__(self, token: object) -> bool:
        return True


ALWAYS_CHECKED = _AlwaysChecked()


def stop_tokens(request: Request) -> Container[int]:
    """Every token on which vLLM's ``check_stop`` may stop ``request`` (a superset), or
    ``ALWAYS_CHECKED`` where it may stop on more than the token (pooling, repetition)."""
    params = request.sampling_params
    if params is None or request.pooling_params is not None or params.repetition_detection is not None:
        return ALWAYS_CHECKED
    tokens = set(params.stop_token_ids or ()) | params.all_stop_token_ids
    if params.eos_token_id is not None:
        tokens.add(params.eos_token_id)
    return frozenset(tokens)


def takes_token_only(
    request: Request, token: int, stops: Container[int], max_model_len: int, log_stats: bool
) -> bool:
    """Whether vLLM's update of ``request`` for its one sampled ``token`` is ``append_token``
    and an output record of the id and the token (client 0)."""
    return not (
        request.status is not _RUNNING
        or request.num_stale_output_tokens
        or token in stops
        or len(request._output_token_ids) + 1 >= request.max_tokens
        or len(request._all_token_ids) + 1 >= max_model_len
        or request.prefill_stats is not None
        or request.trace_headers is not None
        or request.stop_reason is not None
        or request.num_nans_in_logits
        or request.client_index
        or (log_stats and request.events)
    )


def append_token(request: Request, scheduled: int, token: int, hash_block_size: int) -> None:
    """vLLM's update of a request ``takes_token_only`` accepts (``scheduled``: its tokens of
    the step)."""
    request.num_in_flight_tokens -= scheduled
    request._output_token_ids.append(token)
    all_ids = request._all_token_ids
    all_ids.append(token)
    if (len(request.block_hashes) + 1) * hash_block_size <= len(all_ids):
        request.update_block_hashes()
