//! `gpuplane.StepPlan`: one step's plan, as numpy columns.

use std::collections::HashMap;
use std::sync::OnceLock;

use gpuplane_core::batching::{PlannedProgress, StepPlan};
use gpuplane_core::Error;
use numpy::PyArray1;
use pyo3::prelude::*;

use crate::columns::{ints, IntColumn};
use crate::errors::to_py;
use crate::repr::Repr;

/// Ids as numpy int64 (the binding only accepts ids below 2**63).
fn id_array<'py>(py: Python<'py>, ids: impl Iterator<Item = u64>) -> Bound<'py, PyArray1<i64>> {
    PyArray1::from_vec(py, ids.map(|id| id as i64).collect())
}

/// What one step hands to the engine: for each scheduled request (running ones first, then
/// newly admitted) the tokens to compute, whether a token is sampled, and its new KV blocks.
#[pyclass(frozen, module = "gpuplane", name = "StepPlan")]
pub struct PyStepPlan {
    inner: StepPlan,
    /// Where each entry stood before the step (the core's counters).
    progress: PlannedProgress,
    /// Position in the plan by id, built on the first `blocks` call.
    index: OnceLock<HashMap<u64, usize>>,
}

impl PyStepPlan {
    pub fn new(inner: StepPlan, progress: PlannedProgress) -> Self {
        PyStepPlan {
            inner,
            progress,
            index: OnceLock::new(),
        }
    }
}

/// A `u32` column as numpy int64.
fn counts<'py>(py: Python<'py>, values: &[u32]) -> Bound<'py, PyArray1<i64>> {
    PyArray1::from_vec(py, values.iter().map(|&v| i64::from(v)).collect())
}

impl PyStepPlan {
    /// `count(i)` for each index `i` of the plan's entries, as numpy int64.
    fn block_counts<'py>(
        &self,
        py: Python<'py>,
        count: impl Fn(usize) -> usize,
    ) -> Bound<'py, PyArray1<i64>> {
        let counts = (0..self.inner.scheduled.len()).map(|i| count(i) as i64);
        PyArray1::from_vec(py, counts.collect())
    }

    fn position(&self, id: u64) -> Option<usize> {
        let index = self.index.get_or_init(|| {
            let entries = self.inner.scheduled.iter().enumerate();
            entries.map(|(i, e)| (e.id, i)).collect()
        });
        index.get(&id).copied()
    }
}

#[pymethods]
impl PyStepPlan {
    /// Ids of the scheduled requests, in plan order.
    #[getter]
    fn ids<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        id_array(py, self.inner.scheduled.iter().map(|e| e.id))
    }

    /// Tokens each scheduled request computes this step (>= 1).
    #[getter]
    fn num_tokens<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let tokens = self.inner.scheduled.iter().map(|e| i64::from(e.num_tokens));
        PyArray1::from_vec(py, tokens.collect())
    }

    /// Whether the engine samples a token for each scheduled request (False for a prefill
    /// chunk that is not the last).
    #[getter]
    fn samples<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<bool>> {
        PyArray1::from_vec(py, self.inner.scheduled.iter().map(|e| e.samples).collect())
    }

    /// Tokens each scheduled request had computed (or reused from the cache) before this step.
    #[getter]
    fn computed<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        counts(py, &self.progress.computed)
    }

    /// Known tokens (prompt plus generated) of each scheduled request before this step.
    #[getter]
    fn known<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        counts(py, &self.progress.known)
    }

    /// Tokens each scheduled request had generated before this step (with those counted by
    /// `expect_sampled`).
    #[getter]
    fn generated<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        counts(py, &self.progress.generated)
    }

    /// For an engine that allocates a prompt's KV blocks chunk by chunk and caches a block the
    /// step it fills (vLLM's KV manager): positions among the first `running` entries whose
    /// KV it works on this step, `(allocating, caching)`. Allocating: those given new blocks
    /// and those `prefilling` (a bool per running entry) before the step; caching: the others
    /// whose tokens of this step fill a block.
    fn kv_work(
        &self,
        running: usize,
        block_size: u32,
        prefilling: IntColumn<'_>,
    ) -> PyResult<(Vec<u32>, Vec<u32>)> {
        let flags: Vec<bool> = ints("prefilling", &prefilling)?
            .into_iter()
            .map(|f| f != 0)
            .collect();
        let work = self
            .progress
            .kv_work(&self.inner, running, block_size, &flags);
        work.map_err(to_py)
    }

    /// Number of KV blocks newly allocated to each scheduled request this step.
    #[getter]
    fn new_block_counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        self.block_counts(py, |i| self.inner.new_blocks(i).len())
    }

    /// Number of cached prefix blocks each scheduled request reuses (only on the step that
    /// admits it).
    #[getter]
    fn cached_block_counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        self.block_counts(py, |i| self.inner.cached_blocks(i).len())
    }

    /// Ids admitted this step (they are also scheduled).
    #[getter]
    fn admitted<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        id_array(py, self.inner.admitted.iter().copied())
    }

    /// Ids preempted this step: their KV is freed and they wait for recompute.
    #[getter]
    fn preempted<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        id_array(py, self.inner.preempted.iter().copied())
    }

    /// Sum of `num_tokens`.
    #[getter]
    fn total_tokens(&self) -> u32 {
        self.inner.total_tokens
    }

    /// `(new_blocks, cached_blocks)` of a scheduled request: KV blocks allocated to it this
    /// step and cached prefix blocks it reuses (only on the step that admits it).
    fn blocks(&self, id: i64) -> PyResult<(Vec<u32>, Vec<u32>)> {
        let pos = u64::try_from(id).ok().and_then(|id| self.position(id));
        let pos =
            pos.ok_or_else(|| to_py(Error::not_found("scheduled request", id.to_string())))?;
        let plan = &self.inner;
        Ok((
            plan.new_blocks(pos).to_vec(),
            plan.cached_blocks(pos).to_vec(),
        ))
    }

    fn __len__(&self) -> usize {
        self.inner.scheduled.len()
    }

    fn __contains__(&self, id: i64) -> bool {
        u64::try_from(id).is_ok_and(|id| self.position(id).is_some())
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        Repr::new("StepPlan")
            .field("requests", p.scheduled.len())
            .field("total_tokens", p.total_tokens)
            .field("admitted", p.admitted.len())
            .field("preempted", p.preempted.len())
            .finish()
    }
}
