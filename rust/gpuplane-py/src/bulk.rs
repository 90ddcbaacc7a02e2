//! Numpy columns in, numpy arrays out, for bulk placement.

use std::collections::BTreeMap;

use gpuplane_core::placement::Workload;
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;

use crate::columns;
use crate::errors::{signed32, unsigned, unsigned32};

pub use crate::columns::IntColumn as Column;

/// `(placed, node index, GPU indices)` arrays.
pub type Outcome<'py> = (
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray2<i64>>,
);

/// The columns of a bulk placement; optional ones default to 0 (priority 0).
pub struct Columns<'py> {
    pub memory_mib: Column<'py>,
    pub gpu_count: Column<'py>,
    pub compute_milli: Option<Column<'py>>,
    pub cpu_milli: Option<Column<'py>>,
    pub host_memory_mib: Option<Column<'py>>,
    pub priority: Option<Column<'py>>,
    /// Per workload, the GPU models it may use (empty: any).
    pub allowed_models: Option<Vec<Vec<String>>>,
    /// Per workload, the node labels it requires (empty: any node).
    pub node_selector: Option<Vec<BTreeMap<String, String>>>,
}

/// A per-workload list column, checked to be as long as `ids`.
fn rows<T>(name: &str, col: Option<Vec<T>>, n: usize) -> PyResult<Option<Vec<T>>> {
    col.map(|v| columns::sized(name, v, n)).transpose()
}

impl Columns<'_> {
    /// One workload per id, every value checked and named by its column and index.
    pub fn workloads(self, ids: Vec<String>, tenant: &str) -> PyResult<Vec<Workload>> {
        let n = ids.len();
        let mem = columns::ints_sized("memory_mib", &self.memory_mib, n)?;
        let count = columns::ints_sized("gpu_count", &self.gpu_count, n)?;
        let milli = columns::optional_ints("compute_milli", &self.compute_milli, n)?;
        let cpu = columns::optional_ints("cpu_milli", &self.cpu_milli, n)?;
        let host = columns::optional_ints("host_memory_mib", &self.host_memory_mib, n)?;
        let prio = columns::optional_ints("priority", &self.priority, n)?;
        let mut models = rows("allowed_models", self.allowed_models, n)?.map(Vec::into_iter);
        let mut selectors = rows("node_selector", self.node_selector, n)?.map(Vec::into_iter);
        let at = |col: &Option<Vec<i64>>, i: usize| col.as_ref().map_or(0, |c| c[i]);
        ids.into_iter()
            .enumerate()
            .map(|(i, id)| {
                let f = |name: &str| format!("{name}[{i}]");
                Ok(Workload {
                    tenant: tenant.to_string(),
                    compute_milli: unsigned32(&f("compute_milli"), at(&milli, i))?,
                    cpu_milli: unsigned(&f("cpu_milli"), at(&cpu, i))?,
                    host_memory_mib: unsigned(&f("host_memory_mib"), at(&host, i))?,
                    priority: signed32(&f("priority"), at(&prio, i))?,
                    allowed_models: models.as_mut().and_then(Iterator::next).unwrap_or_default(),
                    node_selector: selectors
                        .as_mut()
                        .and_then(Iterator::next)
                        .unwrap_or_default(),
                    ..Workload::new(
                        id,
                        unsigned(&f("memory_mib"), mem[i])?,
                        unsigned32(&f("gpu_count"), count[i])?,
                    )
                })
            })
            .collect()
    }
}

/// Builds the result arrays, padding GPU indices with -1.
pub fn outcome<'py>(
    py: Python<'py>,
    placed: &[Option<(usize, Vec<usize>)>],
) -> PyResult<Outcome<'py>> {
    let width = placed
        .iter()
        .flatten()
        .map(|(_, g)| g.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let ok: Vec<bool> = placed.iter().map(Option::is_some).collect();
    let nodes: Vec<i64> = placed
        .iter()
        .map(|p| p.as_ref().map_or(-1, |(n, _)| *n as i64))
        .collect();
    let mut gpus = vec![-1i64; placed.len() * width];
    for (row, p) in placed.iter().enumerate() {
        if let Some((_, g)) = p {
            for (col, &idx) in g.iter().enumerate() {
                gpus[row * width + col] = idx as i64;
            }
        }
    }
    let gpus = PyArray1::from_vec(py, gpus).reshape([placed.len(), width])?;
    Ok((
        PyArray1::from_vec(py, ok),
        PyArray1::from_vec(py, nodes),
        gpus,
    ))
}
