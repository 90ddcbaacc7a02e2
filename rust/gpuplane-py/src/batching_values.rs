//! Frozen value classes of the batching scheduler: its configuration, requests, and what
//! steps and queries return.

use std::collections::BTreeMap;

use gpuplane_core::batching::{
    BatchConfig, BatchMetrics, FinishReason, Finished, KvEviction, Policy, Request,
    RequestProgress, Submission, TenantMetrics, DEFAULT_CACHE_DISCOUNT, DEFAULT_IDLE_PROGRAMS,
    DEFAULT_STARVATION_RATIO, DEFAULT_STARVATION_S,
};
use pyo3::prelude::*;

use crate::errors::{invalid, signed32, to_py, unsigned, unsigned32};
use crate::repr::{Raw, Repr};

/// A 64-bit block hash from any Python int in `-2**63..2**64` (only equality matters, so a
/// negative value is taken as its two's-complement bit pattern).
fn block_hash(i: usize, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(v) = value.extract::<u64>() {
        return Ok(v);
    }
    value
        .extract::<i64>()
        .map(|v| v as u64)
        .map_err(|_| invalid(&format!("block_hashes[{i}]"), "must be a 64-bit integer"))
}

/// Configuration of one engine replica's batching scheduler (checked when built).
#[pyclass(frozen, eq, module = "gpuplane", name = "BatchConfig", from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyBatchConfig {
    pub inner: BatchConfig,
}

#[pymethods]
impl PyBatchConfig {
    #[new]
    #[pyo3(signature = (*, token_budget=8192, max_running=256, kv_blocks=4096, block_size=16,
        watermark=0.01, long_prefill_token_threshold=0, chunked_prefill=true,
        preempt_priority_gap=None, policy="fcfs", w_in=1.0, w_out=2.0, tenant_weights=None,
        starvation_s=DEFAULT_STARVATION_S, starvation_ratio=DEFAULT_STARVATION_RATIO,
        idle_programs=i64::from(DEFAULT_IDLE_PROGRAMS), kv_eviction="lru",
        cache_discount=DEFAULT_CACHE_DISCOUNT))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        token_budget: i64,
        max_running: i64,
        kv_blocks: i64,
        block_size: i64,
        watermark: f64,
        long_prefill_token_threshold: i64,
        chunked_prefill: bool,
        preempt_priority_gap: Option<i64>,
        policy: &str,
        w_in: f64,
        w_out: f64,
        tenant_weights: Option<BTreeMap<String, f64>>,
        starvation_s: f64,
        starvation_ratio: f64,
        idle_programs: i64,
        kv_eviction: &str,
        cache_discount: f64,
    ) -> PyResult<Self> {
        let gap = preempt_priority_gap.map(|g| signed32("preempt_priority_gap", g));
        let inner = BatchConfig {
            token_budget: unsigned32("token_budget", token_budget)?,
            max_running: unsigned32("max_running", max_running)?,
            kv_blocks: unsigned32("kv_blocks", kv_blocks)?,
            block_size: unsigned32("block_size", block_size)?,
            watermark,
            long_prefill_token_threshold: unsigned32(
                "long_prefill_token_threshold",
                long_prefill_token_threshold,
            )?,
            chunked_prefill,
            preempt_priority_gap: gap.transpose()?,
            policy: policy.parse::<Policy>().map_err(to_py)?,
            w_in,
            w_out,
            tenant_weights: tenant_weights.unwrap_or_default(),
            starvation_s,
            starvation_ratio,
            idle_programs: unsigned32("idle_programs", idle_programs)?,
            kv_eviction: kv_eviction.parse::<KvEviction>().map_err(to_py)?,
            cache_discount,
        };
        inner.validate().map_err(to_py)?;
        Ok(PyBatchConfig { inner })
    }

    #[getter]
    fn token_budget(&self) -> u32 {
        self.inner.token_budget
    }
    #[getter]
    fn max_running(&self) -> u32 {
        self.inner.max_running
    }
    #[getter]
    fn kv_blocks(&self) -> u32 {
        self.inner.kv_blocks
    }
    #[getter]
    fn block_size(&self) -> u32 {
        self.inner.block_size
    }
    #[getter]
    fn watermark(&self) -> f64 {
        self.inner.watermark
    }
    #[getter]
    fn long_prefill_token_threshold(&self) -> u32 {
        self.inner.long_prefill_token_threshold
    }
    #[getter]
    fn chunked_prefill(&self) -> bool {
        self.inner.chunked_prefill
    }
    #[getter]
    fn preempt_priority_gap(&self) -> Option<i32> {
        self.inner.preempt_priority_gap
    }
    #[getter]
    fn policy(&self) -> &'static str {
        self.inner.policy.name()
    }
    #[getter]
    fn w_in(&self) -> f64 {
        self.inner.w_in
    }
    #[getter]
    fn w_out(&self) -> f64 {
        self.inner.w_out
    }
    #[getter]
    fn tenant_weights(&self) -> BTreeMap<String, f64> {
        self.inner.tenant_weights.clone()
    }
    #[getter]
    fn starvation_s(&self) -> f64 {
        self.inner.starvation_s
    }
    #[getter]
    fn starvation_ratio(&self) -> f64 {
        self.inner.starvation_ratio
    }
    #[getter]
    fn idle_programs(&self) -> u32 {
        self.inner.idle_programs
    }
    #[getter]
    fn cache_discount(&self) -> f64 {
        self.inner.cache_discount
    }
    #[getter]
    fn kv_eviction(&self) -> &'static str {
        self.inner.kv_eviction.name()
    }

    fn __repr__(&self) -> String {
        let c = &self.inner;
        let threshold = c.long_prefill_token_threshold;
        Repr::new("BatchConfig")
            .field("policy", c.policy.name())
            .field("token_budget", c.token_budget)
            .field("max_running", c.max_running)
            .field("kv_blocks", c.kv_blocks)
            .field("block_size", c.block_size)
            .field("watermark", c.watermark)
            .field_if(threshold > 0, "long_prefill_token_threshold", threshold)
            .field_if(!c.chunked_prefill, "chunked_prefill", c.chunked_prefill)
            .field_if(
                c.preempt_priority_gap.is_some(),
                "preempt_priority_gap",
                c.preempt_priority_gap,
            )
            .field_if(c.w_in != 1.0, "w_in", c.w_in)
            .field_if(c.w_out != 2.0, "w_out", c.w_out)
            .field_if(
                !c.tenant_weights.is_empty(),
                "tenant_weights",
                &c.tenant_weights,
            )
            .field_if(
                c.starvation_s != DEFAULT_STARVATION_S,
                "starvation_s",
                c.starvation_s,
            )
            .field_if(
                c.starvation_ratio != DEFAULT_STARVATION_RATIO,
                "starvation_ratio",
                c.starvation_ratio,
            )
            .field_if(
                c.idle_programs != DEFAULT_IDLE_PROGRAMS,
                "idle_programs",
                c.idle_programs,
            )
            .field_if(
                c.cache_discount != DEFAULT_CACHE_DISCOUNT,
                "cache_discount",
                c.cache_discount,
            )
            .field_if(
                c.kv_eviction != KvEviction::Lru,
                "kv_eviction",
                c.kv_eviction.name(),
            )
            .finish()
    }
}

/// One generation request. Context-free fields are checked when built; fit against the pool
/// and tenant membership are checked when it is added to a scheduler.
#[pyclass(frozen, eq, module = "gpuplane", name = "Request", from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyRequest {
    pub inner: Submission,
}

#[pymethods]
impl PyRequest {
    #[new]
    #[pyo3(signature = (id, tenant, prompt_len, max_new_tokens, *, priority=0, arrival=0.0,
        ttft_deadline=None, workflow=None, block_hashes=Vec::new(), priority_class=None,
        last_call=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: i64,
        tenant: String,
        prompt_len: i64,
        max_new_tokens: i64,
        priority: i64,
        arrival: f64,
        ttft_deadline: Option<f64>,
        workflow: Option<i64>,
        block_hashes: Vec<Bound<'_, PyAny>>,
        priority_class: Option<String>,
        last_call: bool,
    ) -> PyResult<Self> {
        let hashes = block_hashes
            .iter()
            .enumerate()
            .map(|(i, h)| block_hash(i, h))
            .collect::<PyResult<Vec<u64>>>()?;
        let request = Request {
            id: unsigned("id", id)?,
            tenant,
            prompt_len: unsigned32("prompt_len", prompt_len)?,
            block_hashes: hashes,
            max_new_tokens: unsigned32("max_new_tokens", max_new_tokens)?,
            priority: signed32("priority", priority)?,
            arrival,
            ttft_deadline,
            workflow: workflow.map(|w| unsigned("workflow", w)).transpose()?,
            last_call,
        };
        let inner = Submission {
            request,
            priority_class,
        };
        inner.validate().map_err(to_py)?;
        Ok(PyRequest { inner })
    }

    #[getter]
    fn id(&self) -> u64 {
        self.inner.request.id
    }
    #[getter]
    fn tenant(&self) -> &str {
        &self.inner.request.tenant
    }
    #[getter]
    fn prompt_len(&self) -> u32 {
        self.inner.request.prompt_len
    }
    #[getter]
    fn max_new_tokens(&self) -> u32 {
        self.inner.request.max_new_tokens
    }
    #[getter]
    fn priority(&self) -> i32 {
        self.inner.request.priority
    }
    #[getter]
    fn arrival(&self) -> f64 {
        self.inner.request.arrival
    }
    #[getter]
    fn ttft_deadline(&self) -> Option<f64> {
        self.inner.request.ttft_deadline
    }
    #[getter]
    fn workflow(&self) -> Option<u64> {
        self.inner.request.workflow
    }
    #[getter]
    fn block_hashes(&self) -> Vec<u64> {
        self.inner.request.block_hashes.clone()
    }
    /// The policy engine's priority class that gives the priority when added, if any.
    #[getter]
    fn priority_class(&self) -> Option<&str> {
        self.inner.priority_class.as_deref()
    }

    fn __repr__(&self) -> String {
        let r = &self.inner.request;
        let class = &self.inner.priority_class;
        let hashes = Raw(format!("<{} hashes>", r.block_hashes.len()));
        Repr::new("Request")
            .field("id", r.id)
            .field("tenant", &r.tenant)
            .field("prompt_len", r.prompt_len)
            .field("max_new_tokens", r.max_new_tokens)
            .field_if(r.priority != 0, "priority", r.priority)
            .field_if(r.arrival != 0.0, "arrival", r.arrival)
            .field_if(r.ttft_deadline.is_some(), "ttft_deadline", r.ttft_deadline)
            .field_if(r.workflow.is_some(), "workflow", r.workflow)
            .field_if(!r.block_hashes.is_empty(), "block_hashes", hashes)
            .field_if(class.is_some(), "priority_class", class)
            .finish()
    }
}

/// A request that finished in `BatchScheduler.update`; its KV blocks are freed.
#[pyclass(frozen, eq, get_all, module = "gpuplane", name = "FinishedRequest")]
#[derive(Clone, PartialEq)]
pub struct PyFinishedRequest {
    id: u64,
    generated: u32,
    queue_time: f64,
    reason: &'static str,
}

impl From<Finished> for PyFinishedRequest {
    fn from(f: Finished) -> Self {
        PyFinishedRequest {
            id: f.id,
            generated: f.generated,
            queue_time: f.queue_time,
            reason: match f.reason {
                FinishReason::Stop => "stop",
                FinishReason::Length => "length",
            },
        }
    }
}

#[pymethods]
impl PyFinishedRequest {
    fn __repr__(&self) -> String {
        Repr::new("FinishedRequest")
            .field("id", self.id)
            .field("generated", self.generated)
            .field("queue_time", self.queue_time)
            .field("reason", self.reason)
            .finish()
    }
}

/// Progress of a live request.
#[pyclass(frozen, eq, get_all, module = "gpuplane", name = "RequestProgress")]
#[derive(Clone, PartialEq)]
pub struct PyRequestProgress {
    computed: u32,
    generated: u32,
    known: u32,
    running: bool,
}

impl From<RequestProgress> for PyRequestProgress {
    fn from(p: RequestProgress) -> Self {
        PyRequestProgress {
            computed: p.computed,
            generated: p.generated,
            known: p.known,
            running: p.running,
        }
    }
}

#[pymethods]
impl PyRequestProgress {
    fn __repr__(&self) -> String {
        Repr::new("RequestProgress")
            .field("computed", self.computed)
            .field("generated", self.generated)
            .field("known", self.known)
            .field("running", self.running)
            .finish()
    }
}

/// Service and virtual counter of one tenant.
#[pyclass(frozen, get_all, module = "gpuplane", name = "TenantMetrics")]
#[derive(Clone)]
pub struct PyTenantMetrics {
    tenant: String,
    weight: f64,
    service: f64,
    normalized_service: f64,
    input_tokens: u64,
    output_tokens: u64,
    counter: f64,
    waiting: u32,
    backlogged: bool,
}

impl From<TenantMetrics> for PyTenantMetrics {
    fn from(t: TenantMetrics) -> Self {
        PyTenantMetrics {
            tenant: t.tenant,
            weight: t.weight,
            service: t.service,
            normalized_service: t.normalized_service,
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            counter: t.counter,
            waiting: t.waiting,
            backlogged: t.backlogged,
        }
    }
}

#[pymethods]
impl PyTenantMetrics {
    fn __repr__(&self) -> String {
        Repr::new("TenantMetrics")
            .field("tenant", &self.tenant)
            .field("weight", self.weight)
            .field("service", self.service)
            .field("counter", self.counter)
            .field("waiting", self.waiting)
            .finish()
    }
}

/// A snapshot of a batching scheduler: queues, KV pool, counters and per-tenant fairness.
#[pyclass(frozen, get_all, module = "gpuplane", name = "BatchMetrics")]
pub struct PyBatchMetrics {
    running: usize,
    waiting: usize,
    kv_total_blocks: u32,
    kv_used_blocks: u32,
    kv_free_blocks: u32,
    kv_cached_blocks: u32,
    kv_usage: f64,
    total_preemptions: u64,
    steps: u64,
    admitted_total: u64,
    finished_total: u64,
    mean_queue_time: f64,
    max_queue_time: f64,
    max_service_diff: f64,
    mean_service_diff: f64,
    tenants: BTreeMap<String, PyTenantMetrics>,
}

impl From<BatchMetrics> for PyBatchMetrics {
    fn from(m: BatchMetrics) -> Self {
        PyBatchMetrics {
            running: m.running,
            waiting: m.waiting,
            kv_total_blocks: m.kv_total_blocks,
            kv_used_blocks: m.kv_used_blocks,
            kv_free_blocks: m.kv_free_blocks,
            kv_cached_blocks: m.kv_cached_blocks,
            kv_usage: m.kv_usage,
            total_preemptions: m.total_preemptions,
            steps: m.steps,
            admitted_total: m.admitted_total,
            finished_total: m.finished_total,
            mean_queue_time: m.mean_queue_time,
            max_queue_time: m.max_queue_time,
            max_service_diff: m.max_service_diff,
            mean_service_diff: m.mean_service_diff,
            tenants: m
                .tenants
                .into_iter()
                .map(|t| (t.tenant.clone(), t.into()))
                .collect(),
        }
    }
}

#[pymethods]
impl PyBatchMetrics {
    fn __repr__(&self) -> String {
        Repr::new("BatchMetrics")
            .field("running", self.running)
            .field("waiting", self.waiting)
            .field("kv_used_blocks", self.kv_used_blocks)
            .field("kv_total_blocks", self.kv_total_blocks)
            .field("total_preemptions", self.total_preemptions)
            .field("steps", self.steps)
            .field("finished_total", self.finished_total)
            .field("tenants", self.tenants.len())
            .finish()
    }
}
