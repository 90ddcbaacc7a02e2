//! The one place core errors become Python exceptions (classes from `gpuplane.errors`).

use gpuplane_core::Error;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let module = ERRORS.get_or_try_init(py, || py.import("gpuplane.errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into()?)
}

/// Converts a core error into the matching `gpuplane.errors` exception.
pub fn to_py(err: Error) -> PyErr {
    Python::attach(|py| build(py, err).unwrap_or_else(|e| e))
}

fn build(py: Python<'_>, err: Error) -> PyResult<PyErr> {
    let message = err.to_string();
    let exc = match err {
        Error::InvalidRequest { field, reason } => {
            class(py, "InvalidRequest")?.call1((message, field, reason))?
        }
        Error::NotFound { .. } => class(py, "NotFound")?.call1((message,))?,
        Error::Conflict(_) => class(py, "Conflict")?.call1((message,))?,
        Error::Capacity(_) => class(py, "CapacityError")?.call1((message,))?,
        Error::NoFit { message, excluded } => {
            let counts = PyDict::new(py);
            for (reason, n) in excluded {
                counts.set_item(reason, n)?;
            }
            class(py, "CapacityError")?.call1((message, counts))?
        }
        Error::Quota(_) => class(py, "QuotaExceeded")?.call1((message,))?,
        Error::Snapshot(reason) => {
            class(py, "SnapshotError")?.call1((message, "snapshot", reason))?
        }
    };
    Ok(PyErr::from_value(exc))
}

/// An `InvalidRequest` raised by the binding itself (argument checks).
pub fn invalid(field: &str, reason: impl Into<String>) -> PyErr {
    to_py(Error::invalid(field, reason))
}

/// A non-negative integer argument, or `InvalidRequest` naming it.
pub fn unsigned(field: &str, value: i64) -> PyResult<u64> {
    u64::try_from(value).map_err(|_| invalid(field, format!("{value} is negative")))
}

/// A non-negative 32-bit integer argument, or `InvalidRequest` naming it.
pub fn unsigned32(field: &str, value: i64) -> PyResult<u32> {
    u32::try_from(value).map_err(|_| invalid(field, format!("{value} is not in 0..={}", u32::MAX)))
}

/// A 32-bit signed integer argument, or `InvalidRequest` naming it.
pub fn signed32(field: &str, value: i64) -> PyResult<i32> {
    i32::try_from(value).map_err(|_| {
        invalid(
            field,
            format!("{value} is not in {}..={}", i32::MIN, i32::MAX),
        )
    })
}
