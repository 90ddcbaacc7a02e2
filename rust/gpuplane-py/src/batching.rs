//! `gpuplane.BatchScheduler`: continuous batching for one engine replica. Every call
//! converts, releases the GIL where the core does real work, and delegates to
//! `gpuplane_core::batching::BatchScheduler`.

use std::sync::{Mutex, MutexGuard};

use gpuplane_core::batching::BatchScheduler;
use gpuplane_core::Error;
use pyo3::prelude::*;

use crate::batching_bulk::{
    column_error, step_outputs, FloatColumn, IntColumn, RequestColumns, Tenants,
};
use crate::batching_plan::PyStepPlan;
use crate::batching_values::{
    PyBatchConfig, PyBatchMetrics, PyFinishedRequest, PyRequest, PyRequestProgress,
};
use crate::errors::{to_py, unsigned};
use crate::policy::PyPolicy;
use crate::values::{q, repr};

/// A continuous-batching scheduler: each `schedule()` hands out tokens per request so that
/// computed tokens catch up with known ones, within the token budget, the sequence cap and
/// the KV block pool; `update()` takes what the engine generated.
#[pyclass(frozen, module = "gpuplane", name = "BatchScheduler")]
pub struct PyBatchScheduler {
    inner: Mutex<BatchScheduler>,
}

impl PyBatchScheduler {
    fn lock(&self) -> MutexGuard<'_, BatchScheduler> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A request id, or `NotFound` for a negative one (no request has it).
fn request_id(id: i64) -> PyResult<u64> {
    u64::try_from(id).map_err(|_| to_py(Error::not_found("request", id.to_string())))
}

#[pymethods]
impl PyBatchScheduler {
    #[new]
    #[pyo3(signature = (config, policy=None))]
    fn new(config: PyBatchConfig, policy: Option<PyRef<'_, PyPolicy>>) -> PyResult<Self> {
        let inner = match policy {
            Some(p) => BatchScheduler::with_policy(config.inner, p.inner.clone()),
            None => BatchScheduler::new(config.inner),
        }
        .map_err(to_py)?;
        Ok(PyBatchScheduler {
            inner: Mutex::new(inner),
        })
    }

    /// The configuration.
    #[getter]
    fn config(&self) -> PyBatchConfig {
        PyBatchConfig {
            inner: self.lock().config().clone(),
        }
    }

    /// The shared policy engine, or None.
    #[getter]
    fn policy_engine(&self) -> Option<PyPolicy> {
        self.lock()
            .policy_engine()
            .map(|e| PyPolicy { inner: e.clone() })
    }

    /// The scheduler clock (seconds).
    #[getter]
    fn now(&self) -> f64 {
        self.lock().now()
    }

    /// Sets the clock (finite, not earlier than now); used for queue times only.
    fn set_time(&self, now: f64) -> PyResult<()> {
        self.lock().set_time(now).map_err(to_py)
    }

    /// Adds one request to the waiting queue.
    fn add(&self, py: Python<'_>, request: PyRequest) -> PyResult<()> {
        let PyRequest {
            inner,
            priority_class,
        } = request;
        py.detach(|| match priority_class {
            Some(c) => self.lock().add_in_class(inner, &c),
            None => self.lock().add(inner),
        })
        .map_err(to_py)
    }

    /// Adds many requests from columns (numpy arrays or lists), all or none; a bad entry
    /// raises naming its column and index.
    #[pyo3(signature = (ids, prompt_len, max_new_tokens, *, tenants=None, priority=None,
        arrival=None, ttft_deadline=None, workflow=None))]
    #[allow(clippy::too_many_arguments)]
    fn add_many<'py>(
        &self,
        py: Python<'py>,
        ids: IntColumn<'py>,
        prompt_len: IntColumn<'py>,
        max_new_tokens: IntColumn<'py>,
        tenants: Option<Tenants>,
        priority: Option<IntColumn<'py>>,
        arrival: Option<FloatColumn<'py>>,
        ttft_deadline: Option<FloatColumn<'py>>,
        workflow: Option<IntColumn<'py>>,
    ) -> PyResult<()> {
        let columns = RequestColumns {
            ids,
            prompt_len,
            max_new_tokens,
            tenants,
            priority,
            arrival,
            ttft_deadline,
            workflow,
        };
        let requests = columns.requests()?;
        py.detach(|| self.lock().add_many(requests))
            .map_err(|e| to_py(column_error(e)))
    }

    /// Plans the next step.
    fn schedule(&self, py: Python<'_>) -> PyStepPlan {
        py.detach(|| self.lock().schedule()).into()
    }

    /// Applies the engine's results of the last step: `generated` is a dict `{id: tokens}` or
    /// an id array with `counts` alongside; `finished` lists ids that stopped. Returns the
    /// requests that finished.
    #[pyo3(signature = (generated, counts=None, finished=None))]
    fn update(
        &self,
        py: Python<'_>,
        generated: &Bound<'_, PyAny>,
        counts: Option<IntColumn<'_>>,
        finished: Option<IntColumn<'_>>,
    ) -> PyResult<Vec<PyFinishedRequest>> {
        let outputs = step_outputs(generated, counts, finished)?;
        let done = py.detach(|| self.lock().update(&outputs)).map_err(to_py)?;
        Ok(done.into_iter().map(Into::into).collect())
    }

    /// Removes a waiting or running request and frees its KV blocks.
    fn abort(&self, py: Python<'_>, id: i64) -> PyResult<()> {
        let id = request_id(id)?;
        py.detach(|| self.lock().abort(id)).map_err(to_py)
    }

    /// A snapshot of queues, KV pool and per-tenant service.
    fn metrics(&self, py: Python<'_>) -> PyBatchMetrics {
        py.detach(|| self.lock().metrics()).into()
    }

    /// Progress of a live request.
    fn progress(&self, id: i64) -> PyResult<PyRequestProgress> {
        let id = request_id(id)?;
        let progress = self.lock().progress(id);
        let progress = progress.ok_or_else(|| to_py(Error::not_found("request", id.to_string())));
        progress.map(Into::into)
    }

    /// Ids of running requests, in their scheduling order.
    fn running_ids(&self) -> Vec<u64> {
        self.lock().running_ids()
    }

    /// Hashes of the prompt blocks in the KV pool (held or cached-free), ascending.
    fn cached_block_hashes(&self, py: Python<'_>) -> Vec<u64> {
        py.detach(|| self.lock().cached_block_hashes())
    }

    /// Reference count of a KV block, or None for a block outside the pool.
    fn block_refcount(&self, block: i64) -> PyResult<Option<u32>> {
        let block = unsigned("block", block)?;
        let block = u32::try_from(block).ok();
        Ok(block.and_then(|b| self.lock().block_refcount(b)))
    }

    fn __len__(&self) -> usize {
        let s = self.lock();
        s.num_running() + s.num_waiting()
    }

    fn __contains__(&self, id: i64) -> bool {
        u64::try_from(id).is_ok_and(|id| self.lock().contains(id))
    }

    fn __repr__(&self) -> String {
        let s = self.lock();
        repr(
            "BatchScheduler",
            &[
                ("policy", q(s.config().policy.name())),
                ("running", s.num_running().to_string()),
                ("waiting", s.num_waiting().to_string()),
                ("now", format!("{:?}", s.now())),
            ],
        )
    }
}
