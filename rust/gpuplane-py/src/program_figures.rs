//! `gpuplane.ProgramFigures`: one tenant's agent programs at admission
//! (`Policy.program_figures`).

use gpuplane_core::policy::{ProgramFigures, COMPLETION_BUCKETS_S};
use pyo3::prelude::*;

use crate::repr::Repr;

/// One tenant's agent programs: active, completed and aborted programs, calls and seconds
/// (completion, waiting, running, tool) summed over completed programs, and completion counts
/// per bucket of `PROGRAM_COMPLETION_BUCKETS_S` (one more bucket for the rest).
#[pyclass(frozen, module = "gpuplane", name = "ProgramFigures")]
pub struct PyProgramFigures {
    pub inner: ProgramFigures,
}

#[pymethods]
impl PyProgramFigures {
    #[getter]
    fn tenant(&self) -> &str {
        &self.inner.tenant
    }
    #[getter]
    fn active(&self) -> u64 {
        self.inner.active
    }
    #[getter]
    fn completed(&self) -> u64 {
        self.inner.completed
    }
    #[getter]
    fn aborted(&self) -> u64 {
        self.inner.aborted
    }
    #[getter]
    fn calls(&self) -> u64 {
        self.inner.calls
    }
    #[getter]
    fn completion_s_sum(&self) -> f64 {
        self.inner.completion_s_sum
    }
    #[getter]
    fn waiting_s_sum(&self) -> f64 {
        self.inner.waiting_s_sum
    }
    #[getter]
    fn running_s_sum(&self) -> f64 {
        self.inner.running_s_sum
    }
    #[getter]
    fn tool_s_sum(&self) -> f64 {
        self.inner.tool_s_sum
    }
    #[getter]
    fn completion_buckets(&self) -> Vec<u64> {
        self.inner.completion_buckets.clone()
    }

    /// The upper bound, seconds, of the bucket holding quantile `q` of completion time (inf
    /// in the last bucket, 0 with no completed program).
    fn completion_quantile(&self, q: f64) -> f64 {
        self.inner.completion_quantile(q)
    }

    fn __repr__(&self) -> String {
        let f = &self.inner;
        Repr::new("ProgramFigures")
            .field("tenant", &f.tenant)
            .field("active", f.active)
            .field("completed", f.completed)
            .field("aborted", f.aborted)
            .field("calls", f.calls)
            .field("completion_s_sum", f.completion_s_sum)
            .finish()
    }
}

/// `PROGRAM_COMPLETION_BUCKETS_S`.
pub fn buckets() -> Vec<f64> {
    COMPLETION_BUCKETS_S.to_vec()
}
