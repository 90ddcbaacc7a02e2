//! `gpuplane.BatchScheduler`: continuous batching for one engine replica. Every call
//! converts, releases the GIL where the core does real work, and delegates to
//! `gpuplane_core::batching::BatchScheduler`.

use gpuplane_core::batching::{BatchScheduler, ProgramHistory};
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
use crate::locked::Locked;
use crate::policy::PyPolicy;
use crate::repr::Repr;

/// A continuous-batching scheduler: each `schedule()` hands out tokens per request so that
/// computed tokens catch up with known ones, within the token budget, the sequence cap and
/// the KV block pool; `update()` takes what the engine generated.
#[pyclass(frozen, module = "gpuplane", name = "BatchScheduler")]
pub struct PyBatchScheduler {
    inner: Locked<BatchScheduler>,
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
            Some(p) => BatchScheduler::with_policy(config.inner, p.inner.shared().clone()),
            None => BatchScheduler::new(config.inner),
        }
        .map_err(to_py)?;
        Ok(PyBatchScheduler {
            inner: Locked::new(inner),
        })
    }

    /// The configuration.
    #[getter]
    fn config(&self, py: Python<'_>) -> PyBatchConfig {
        PyBatchConfig {
            inner: self.inner.run(py, |s| s.config().clone()),
        }
    }

    /// The shared policy engine, or None.
    #[getter]
    fn policy_engine(&self, py: Python<'_>) -> Option<PyPolicy> {
        let engine = self.inner.run(py, |s| s.policy_engine().cloned());
        engine.map(PyPolicy::from_shared)
    }

    /// The scheduler clock (seconds).
    #[getter]
    fn now(&self, py: Python<'_>) -> f64 {
        self.inner.run(py, |s| s.now())
    }

    /// Sets the clock (finite, not earlier than now); used for queue times only.
    fn set_time(&self, py: Python<'_>, now: f64) -> PyResult<()> {
        self.inner.call(py, |s| s.set_time(now))
    }

    /// Adds one request to the waiting queue.
    fn add(&self, py: Python<'_>, request: PyRequest) -> PyResult<()> {
        self.inner.call(py, |s| s.submit(request.inner))
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
        let added = self.inner.run(py, |s| s.add_many(requests));
        added.map_err(|e| to_py(column_error(e)))
    }

    /// Plans the next step. With `now`, the clock first moves forward to it (an earlier `now`
    /// leaves it); with `expect_sampled`, the plan's sampled tokens are then counted as
    /// `expect_sampled()` does: an engine's whole scheduling step in one call.
    #[pyo3(signature = (now=None, expect_sampled=false))]
    fn schedule(
        &self,
        py: Python<'_>,
        now: Option<f64>,
        expect_sampled: bool,
    ) -> PyResult<PyStepPlan> {
        let planned = self.inner.call(py, |s| {
            if let Some(now) = now {
                s.advance_clock(now)?;
            }
            let plan = s.schedule();
            let progress = s.planned_progress(&plan)?;
            if expect_sampled {
                s.expect_sampled()?;
            }
            Ok((plan, progress))
        });
        planned.map(|(plan, progress)| PyStepPlan::new(plan, progress))
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
        let done = self.inner.call(py, |s| s.update(&outputs))?;
        Ok(done.into_iter().map(Into::into).collect())
    }

    /// Counts, right after `schedule()`, the one token each request of that plan samples, as
    /// if the engine had reported it (not a request's last token: the engine finishes that
    /// request when it arrives, with `abort`). For engines that plan the next step before
    /// the last step's output arrives.
    fn expect_sampled(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.call(py, |s| s.expect_sampled())
    }

    /// Removes a waiting or running request and frees its KV blocks.
    fn abort(&self, py: Python<'_>, id: i64) -> PyResult<()> {
        let id = request_id(id)?;
        self.inner.call(py, |s| s.abort(id))
    }

    /// A snapshot of queues, KV pool and per-tenant service.
    fn metrics(&self, py: Python<'_>) -> PyBatchMetrics {
        self.inner.run(py, |s| s.metrics()).into()
    }

    /// Progress of a live request.
    fn progress(&self, py: Python<'_>, id: i64) -> PyResult<PyRequestProgress> {
        let id = request_id(id)?;
        let progress = self.inner.run(py, |s| s.progress(id));
        let progress = progress.ok_or_else(|| to_py(Error::not_found("request", id.to_string())));
        progress.map(Into::into)
    }

    /// Ids of running requests, in their scheduling order.
    fn running_ids(&self, py: Python<'_>) -> Vec<u64> {
        self.inner.run(py, |s| s.running_ids())
    }

    /// Hashes of the prompt blocks in the KV pool (held or cached-free), ascending.
    fn cached_block_hashes(&self, py: Python<'_>) -> Vec<u64> {
        self.inner.run(py, |s| s.cached_block_hashes())
    }

    /// Program `workflow`'s `(attained, waited_s, served_s)` on this replica under
    /// `program_las` (weighted tokens served over its calls, seconds its calls waited, seconds
    /// its finished calls ran), or None.
    fn program_history(&self, py: Python<'_>, workflow: i64) -> PyResult<Option<(f64, f64, f64)>> {
        let workflow = unsigned("workflow", workflow)?;
        let h = self.inner.run(py, |s| s.program_history(workflow));
        Ok(h.map(|h| (h.attained, h.waited_s, h.served_s)))
    }

    /// Raises program `workflow`'s attained service and waiting here to at least the given
    /// figures (what the replica of its last call knew), so its next call keeps its rank.
    #[pyo3(signature = (workflow, attained, waited_s, served_s=0.0))]
    fn set_program_history(
        &self,
        py: Python<'_>,
        workflow: i64,
        attained: f64,
        waited_s: f64,
        served_s: f64,
    ) -> PyResult<()> {
        let workflow = unsigned("workflow", workflow)?;
        let h = ProgramHistory {
            attained,
            waited_s,
            served_s,
        };
        self.inner.call(py, |s| s.set_program_history(workflow, h))
    }

    /// Reference count of a KV block, or None for a block outside the pool.
    fn block_refcount(&self, py: Python<'_>, block: i64) -> PyResult<Option<u32>> {
        let block = unsigned("block", block)?;
        let Ok(block) = u32::try_from(block) else {
            return Ok(None);
        };
        Ok(self.inner.run(py, |s| s.block_refcount(block)))
    }

    /// Named programs remembered: those with a call queued or running plus at most
    /// `config.idle_programs` idle ones.
    fn known_programs(&self, py: Python<'_>) -> usize {
        self.inner.run(py, |s| s.known_programs())
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.inner.run(py, |s| s.num_running() + s.num_waiting())
    }

    fn __contains__(&self, py: Python<'_>, id: i64) -> bool {
        u64::try_from(id).is_ok_and(|id| self.inner.run(py, |s| s.contains(id)))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.inner.run(py, |s| {
            Repr::new("BatchScheduler")
                .field("policy", s.config().policy.name())
                .field("running", s.num_running())
                .field("waiting", s.num_waiting())
                .field("now", s.now())
                .finish()
        })
    }
}
