//! The simulator: `simulate_llm_json` (an LLM serving trace through N simulated replicas) and
//! `replay_cluster_json` (a cluster trace through the placement engine, with departures). Both
//! take numpy columns and a JSON configuration, release the GIL, and return the core's JSON
//! report as a string (`gpuplane.simulate_llm` parses it).

use gpuplane_core::sim::{replay_cluster, simulate, PodEvent, SimConfig, Workload};
use pyo3::prelude::*;

use crate::bulk;
use crate::cluster::PyCluster;
use crate::columns;
use crate::errors::{invalid, to_py};

type Ints<'py> = columns::IntColumn<'py>;
type Floats<'py> = columns::FloatColumn<'py>;

/// `values` as `T`, or `InvalidRequest` naming `name[i]`.
fn narrow<T: TryFrom<i64>>(name: &str, values: Vec<i64>) -> PyResult<Vec<T>> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            T::try_from(v)
                .map_err(|_| invalid(&format!("{name}[{i}]"), format!("{v} is out of range")))
        })
        .collect()
}

/// A column that defaults to `n` copies of `fill`.
fn or_fill(name: &str, col: Option<Ints<'_>>, n: usize, fill: i64) -> PyResult<Vec<i64>> {
    col.map_or_else(|| Ok(vec![fill; n]), |c| columns::ints(name, &c))
}

/// An optional integer column, empty when absent.
fn or_empty(name: &str, col: Option<Ints<'_>>) -> PyResult<Vec<i64>> {
    or_fill(name, col, 0, 0)
}

fn config(text: &str) -> PyResult<SimConfig> {
    serde_json::from_str(text).map_err(|e| invalid("config", e.to_string()))
}

/// Simulates serving the requests given as columns under the JSON `config` (see
/// `gpuplane_core::sim::SimConfig`); returns the JSON report.
#[pyfunction]
#[pyo3(signature = (arrival, prompt, output, tenant=None, priority=None, workflow=None, hash_offsets=None, hashes=None, config="{}", tool_time=None))]
#[allow(clippy::too_many_arguments)]
pub fn simulate_llm_json(
    py: Python<'_>,
    arrival: Floats<'_>,
    prompt: Ints<'_>,
    output: Ints<'_>,
    tenant: Option<Ints<'_>>,
    priority: Option<Ints<'_>>,
    workflow: Option<Ints<'_>>,
    hash_offsets: Option<Ints<'_>>,
    hashes: Option<Ints<'_>>,
    config: &str,
    tool_time: Option<Floats<'_>>,
) -> PyResult<String> {
    let cfg = self::config(config)?;
    let arrival = columns::floats(&arrival);
    let n = arrival.len();
    let w = Workload {
        arrival,
        prompt: narrow("prompt", columns::ints("prompt", &prompt)?)?,
        output: narrow("output", columns::ints("output", &output)?)?,
        tenant: narrow("tenant", or_fill("tenant", tenant, n, 0)?)?,
        priority: narrow("priority", or_fill("priority", priority, n, 0)?)?,
        workflow: or_fill("workflow", workflow, n, -1)?,
        hash_offsets: narrow("hash_offsets", or_empty("hash_offsets", hash_offsets)?)?,
        hashes: or_empty("hashes", hashes)?
            .into_iter()
            .map(|h| h as u64)
            .collect(),
        tool_time: tool_time.map_or_else(Vec::new, |t| columns::floats(&t)),
    };
    py.detach(|| simulate(&cfg, &w).map(|r| r.to_json()))
        .map_err(to_py)
}

/// Replays pods (arrival and departure times, NaN: never departs) on `cluster` with its
/// policy, sampling the allocation and fragmentation `samples` times; returns JSON.
#[pyfunction]
#[pyo3(signature = (cluster, ids, gpu_count, compute_milli, cpu_milli, host_memory_mib, arrival, departure, samples=200))]
#[allow(clippy::too_many_arguments)]
pub fn replay_cluster_json<'py>(
    py: Python<'py>,
    cluster: &PyCluster,
    ids: Vec<String>,
    gpu_count: bulk::Column<'py>,
    compute_milli: bulk::Column<'py>,
    cpu_milli: bulk::Column<'py>,
    host_memory_mib: bulk::Column<'py>,
    arrival: Floats<'py>,
    departure: Floats<'py>,
    samples: usize,
) -> PyResult<String> {
    let n = ids.len();
    let (arrival, departure) = (columns::floats(&arrival), columns::floats(&departure));
    if arrival.len() != n || departure.len() != n {
        return Err(invalid(
            "arrival",
            format!("arrival and departure need {n} entries"),
        ));
    }
    let columns = bulk::Columns {
        memory_mib: numpy::PyArray1::<i64>::zeros(py, n, false).into_any(),
        gpu_count,
        compute_milli: Some(compute_milli),
        cpu_milli: Some(cpu_milli),
        host_memory_mib: Some(host_memory_mib),
        priority: None,
        allowed_models: None,
        node_selector: None,
    };
    let pods: Vec<PodEvent> = columns
        .workloads(ids, "default")?
        .into_iter()
        .zip(arrival.into_iter().zip(departure))
        .map(|(workload, (a, d))| PodEvent {
            workload,
            arrival: a,
            departure: (!d.is_nan()).then_some(d),
        })
        .collect();
    let out = cluster
        .inner
        .call(py, |c| replay_cluster(c, pods, samples))?;
    Ok(serde_json::to_string(&out).expect("a replay always serializes"))
}

/// Adds the simulator's functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(simulate_llm_json, m)?)?;
    m.add_function(wrap_pyfunction!(replay_cluster_json, m)?)?;
    Ok(())
}
