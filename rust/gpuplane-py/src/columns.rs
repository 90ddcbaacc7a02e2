//! Numpy columns in: the one reader of integer and float columns for every bulk call
//! (`Cluster.place_many`, `BatchScheduler.add_many` and the step outputs, the simulator).
//!
//! One dtype rule: an integer column is a numpy array of an integer (or bool) dtype, in any
//! layout (strided and non-contiguous arrays are read as they are), or a sequence of ints;
//! floats are refused, never truncated. A float column takes any numeric dtype.

use numpy::{
    AllowTypeChange, PyArrayDescrMethods, PyArrayLike1, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::errors::invalid;

/// An integer column: a numpy array of any integer dtype, or a sequence of ints.
pub type IntColumn<'py> = Bound<'py, PyAny>;

/// A float column; any numeric dtype (or a list) is accepted and converted.
pub type FloatColumn<'py> = PyArrayLike1<'py, f64, AllowTypeChange>;

/// The column's values; floats and other non-integers are refused (`InvalidRequest` naming
/// the column).
pub fn ints(name: &str, col: &IntColumn<'_>) -> PyResult<Vec<i64>> {
    let Ok(array) = col.cast::<PyUntypedArray>() else {
        return col
            .extract::<Vec<i64>>()
            .map_err(|e| invalid(name, format!("must be a sequence of integers: {e}")));
    };
    let dtype = array.dtype();
    if !matches!(dtype.kind(), b'i' | b'u' | b'b') && !array.is_empty() {
        let why = format!("must hold integers, got dtype {dtype}");
        return Err(invalid(name, why));
    }
    let values: PyArrayLike1<'_, i64, AllowTypeChange> = col.extract()?;
    Ok(values.as_array().to_vec())
}

/// A float column's values.
pub fn floats(col: &FloatColumn<'_>) -> Vec<f64> {
    col.as_array().to_vec()
}

/// `values`, which must have `n` entries (one per id).
pub fn sized<T>(name: &str, values: Vec<T>, n: usize) -> PyResult<Vec<T>> {
    if values.len() != n {
        let why = format!("has {} entries, expected {n}", values.len());
        return Err(invalid(name, why));
    }
    Ok(values)
}

/// An integer column of `n` entries.
pub fn ints_sized(name: &str, col: &IntColumn<'_>, n: usize) -> PyResult<Vec<i64>> {
    sized(name, ints(name, col)?, n)
}

/// An optional integer column of `n` entries.
pub fn optional_ints(
    name: &str,
    col: &Option<IntColumn<'_>>,
    n: usize,
) -> PyResult<Option<Vec<i64>>> {
    col.as_ref().map(|c| ints_sized(name, c, n)).transpose()
}

/// An optional float column of `n` entries.
pub fn optional_floats(
    name: &str,
    col: &Option<FloatColumn<'_>>,
    n: usize,
) -> PyResult<Option<Vec<f64>>> {
    col.as_ref().map(|c| sized(name, floats(c), n)).transpose()
}
