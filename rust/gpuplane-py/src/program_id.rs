//! An agent program's id as the key routers and batch schedulers keep it by
//! (`gpuplane_core::program_id`), for callers that hold the id as a string (the daemon's
//! Route, vLLM's `extra_args.workflow`).

use gpuplane_core::program_id;
use pyo3::prelude::*;

use crate::errors::to_py;

/// The key of program `workflow` of `tenant` for `Router.route(workflow=)`,
/// `Router.end_program` and `Request(workflow=)`: a fixed 63-bit hash of both, stable across
/// processes and versions. Raises `InvalidRequest` naming `workflow` unless the id follows the
/// id grammar (non-empty, at most `MAX_ID_BYTES`, no control or invisible characters).
#[pyfunction]
fn program_key(tenant: &str, workflow: &str) -> PyResult<u64> {
    program_id::program_key(tenant, workflow).map_err(to_py)
}

/// Adds `program_key` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(program_key, m)?)
}
