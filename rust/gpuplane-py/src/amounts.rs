//! Resource amounts across the boundary: `{resource: amount}` dicts in (names parsed by the
//! core, amounts checked by it), [`Amounts`] and [`Caps`] out (dicts in Python, and their
//! repr lists only what is set, in resource order).

use std::collections::BTreeMap;

use gpuplane_core::policy::{Limits, Resource, Resources};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::to_py;
use crate::repr::{dict, PyRepr};

/// A resource by name (the core parses it), or `InvalidRequest` on `{field}.{name}`.
fn resource(field: &str, name: &str) -> PyResult<Resource> {
    Resource::parse(field, name).map_err(to_py)
}

/// Amounts from a `{resource: amount}` dict (missing resources are 0). Values are checked by
/// the core, which names `{field}.{resource}`.
pub fn resources(field: &str, d: Option<BTreeMap<String, f64>>) -> PyResult<Resources> {
    let mut out = Resources::ZERO;
    for (k, v) in d.unwrap_or_default() {
        out.set(resource(field, &k)?, v);
    }
    Ok(out)
}

/// Caps from a `{resource: cap}` dict (missing or `None` is no cap).
pub fn limits(field: &str, d: Option<BTreeMap<String, Option<f64>>>) -> PyResult<Limits> {
    let mut out = Limits::NONE;
    for (k, v) in d.unwrap_or_default() {
        out.set(resource(field, &k)?, v);
    }
    Ok(out)
}

/// Amounts as Python sees them: a dict with every resource.
#[derive(Clone, Copy)]
pub struct Amounts(pub Resources);

/// Caps as Python sees them: a dict with only the capped resources.
#[derive(Clone, Copy)]
pub struct Caps(pub Limits);

impl Amounts {
    fn pairs(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        Resource::ALL.into_iter().map(|k| (k.name(), self.0.get(k)))
    }

    /// The dict Python gets.
    pub fn to_dict(self) -> BTreeMap<&'static str, f64> {
        self.pairs().collect()
    }
}

impl Caps {
    fn pairs(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        Resource::ALL
            .into_iter()
            .filter_map(|k| self.0 .0[k.index()].map(|v| (k.name(), v)))
    }
}

impl<'py> IntoPyObject<'py> for Amounts {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.to_dict().into_pyobject(py)
    }
}

impl<'py> IntoPyObject<'py> for Caps {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let caps: BTreeMap<&'static str, f64> = self.pairs().collect();
        caps.into_pyobject(py)
    }
}

/// `{'gpus': 1.0, ...}` with only the non-zero amounts.
impl PyRepr for Amounts {
    fn py_repr(&self) -> String {
        dict(self.pairs().filter(|&(_, v)| v != 0.0)).0
    }
}

/// `{'gpus': 1.0, ...}` with only the capped resources.
impl PyRepr for Caps {
    fn py_repr(&self) -> String {
        dict(self.pairs()).0
    }
}
