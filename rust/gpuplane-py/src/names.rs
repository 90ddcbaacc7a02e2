//! The core's grammar for ids and names (`gpuplane_core::names`), for callers that check a
//! name before it reaches a core call (the daemon validates requests before journaling them).

use gpuplane_core::names;
use pyo3::prelude::*;

use crate::errors::to_py;

/// Checks `value` against the id and name grammar with a cap of `max_bytes`: non-empty, no
/// leading or trailing space, no control or invisible characters. Raises `InvalidRequest`
/// naming `field`.
#[pyfunction]
#[pyo3(signature = (field, value, max_bytes=names::MAX_NAME_BYTES))]
fn check_name(field: &str, value: &str, max_bytes: usize) -> PyResult<()> {
    names::check(field, value, max_bytes).map_err(to_py)
}

/// Adds the grammar's function and caps to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_ID_BYTES", names::MAX_ID_BYTES)?;
    m.add("MAX_NAME_BYTES", names::MAX_NAME_BYTES)?;
    m.add_function(wrap_pyfunction!(check_name, m)?)
}
