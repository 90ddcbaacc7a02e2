//! Numpy columns in, numpy arrays out, for bulk placement.

use gpuplane_core::placement::Workload;
use numpy::{AllowTypeChange, PyArray1, PyArray2, PyArrayLike1, PyArrayMethods};
use pyo3::prelude::*;

use crate::errors::{invalid, signed32, unsigned, unsigned32};

/// An integer column; any integer dtype is accepted and converted.
pub type Column<'py> = PyArrayLike1<'py, i64, AllowTypeChange>;

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
}

fn values<'a>(name: &str, col: &'a Column<'_>, n: usize) -> PyResult<&'a [i64]> {
    let slice = col.as_slice().map_err(|e| invalid(name, e.to_string()))?;
    if slice.len() != n {
        return Err(invalid(
            name,
            format!("has {} entries but ids has {n}", slice.len()),
        ));
    }
    Ok(slice)
}

fn optional<'a>(name: &str, col: &'a Option<Column<'_>>, n: usize) -> PyResult<Option<&'a [i64]>> {
    col.as_ref().map(|c| values(name, c, n)).transpose()
}

impl Columns<'_> {
    /// One workload per id, every value checked and named by its column and index.
    pub fn workloads(&self, ids: Vec<String>, tenant: &str) -> PyResult<Vec<Workload>> {
        let n = ids.len();
        let mem = values("memory_mib", &self.memory_mib, n)?;
        let count = values("gpu_count", &self.gpu_count, n)?;
        let milli = optional("compute_milli", &self.compute_milli, n)?;
        let cpu = optional("cpu_milli", &self.cpu_milli, n)?;
        let host = optional("host_memory_mib", &self.host_memory_mib, n)?;
        let prio = optional("priority", &self.priority, n)?;
        let at = |col: Option<&[i64]>, i: usize| col.map_or(0, |c| c[i]);
        ids.into_iter()
            .enumerate()
            .map(|(i, id)| {
                let f = |name: &str| format!("{name}[{i}]");
                Ok(Workload {
                    tenant: tenant.to_string(),
                    compute_milli: unsigned32(&f("compute_milli"), at(milli, i))?,
                    cpu_milli: unsigned(&f("cpu_milli"), at(cpu, i))?,
                    host_memory_mib: unsigned(&f("host_memory_mib"), at(host, i))?,
                    priority: signed32(&f("priority"), at(prio, i))?,
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
