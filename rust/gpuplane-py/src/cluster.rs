//! `gpuplane.Cluster`: the placement engine. Every call converts, releases the GIL, and
//! delegates to `gpuplane_core::placement::Cluster`.

use std::collections::BTreeMap;

use gpuplane_core::inventory::NodeSpec;
use gpuplane_core::placement::{Cluster, PolicyKind, ScoreMode, Shape};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyType};

use crate::bulk;
use crate::errors::{to_py, unsigned};
use crate::locked::Locked;
use crate::policy::{now_or_clock, PyPolicy};
use crate::repr::Repr;
use crate::stats::PyClusterStats;
use crate::tenant_figures::PyTenantFigures;
use crate::values::{PyGpuSpec, PyPlacement, PyPreemptionPlan, PyWorkload};

/// Host CPU or memory of a node added without a figure: large enough never to bind.
pub const UNTRACKED_HOST: u64 = 1 << 40;

/// A cluster of nodes and GPUs and the workloads placed on it.
#[pyclass(frozen, module = "gpuplane", name = "Cluster")]
pub struct PyCluster {
    pub inner: Locked<Cluster>,
}

impl PyCluster {
    /// `now`, else `time.monotonic()` with a policy engine attached (else unused: 0).
    fn now(&self, py: Python<'_>, now: Option<f64>) -> PyResult<f64> {
        match now {
            None if self.inner.run(py, |c| c.policy_engine().is_none()) => Ok(0.0),
            _ => now_or_clock(py, now),
        }
    }
}

pub fn parse_policy(policy: Option<&str>) -> PyResult<Option<PolicyKind>> {
    policy
        .map(|p| p.parse::<PolicyKind>().map_err(to_py))
        .transpose()
}

/// Checks a placement policy's name as the core parses it (for callers that refuse a request
/// before journaling it); raises `InvalidRequest` naming `policy`.
#[pyfunction]
pub fn check_policy(name: &str) -> PyResult<()> {
    parse_policy(Some(name)).map(|_| ())
}

#[pymethods]
impl PyCluster {
    #[new]
    #[pyo3(signature = (policy="fgd", seed=0, scoring="native"))]
    fn new(policy: &str, seed: u64, scoring: &str) -> PyResult<Self> {
        let policy = policy.parse::<PolicyKind>().map_err(to_py)?;
        let mut cluster = Cluster::new(policy, seed);
        cluster.set_scoring(scoring.parse::<ScoreMode>().map_err(to_py)?);
        Ok(PyCluster {
            inner: Locked::new(cluster),
        })
    }

    /// How node scores are computed: "native" or "artifact" (as the FGD paper's artifact).
    #[getter]
    fn scoring(&self, py: Python<'_>) -> &'static str {
        self.inner.run(py, |c| c.scoring().name())
    }

    /// The default policy.
    #[getter]
    fn policy(&self, py: Python<'_>) -> &'static str {
        self.inner.run(py, |c| c.policy().name())
    }

    #[getter]
    fn seed(&self, py: Python<'_>) -> u64 {
        self.inner.run(py, |c| c.seed())
    }

    /// Adds a node. Host `cpu_milli` / `memory_mib` left as None are not tracked.
    #[pyo3(signature = (name, gpus, cpu_milli=None, memory_mib=None, labels=None))]
    fn add_node(
        &self,
        py: Python<'_>,
        name: String,
        gpus: Vec<PyGpuSpec>,
        cpu_milli: Option<i64>,
        memory_mib: Option<i64>,
        labels: Option<BTreeMap<String, String>>,
    ) -> PyResult<()> {
        let spec = NodeSpec {
            name,
            gpus: gpus.into_iter().map(|g| g.inner).collect(),
            cpu_milli: cpu_milli.map_or(Ok(UNTRACKED_HOST), |v| unsigned("cpu_milli", v))?,
            memory_mib: memory_mib.map_or(Ok(UNTRACKED_HOST), |v| unsigned("memory_mib", v))?,
            labels: labels.unwrap_or_default(),
        };
        self.inner.call(py, |c| c.add_node(spec))
    }

    /// Removes a node; returns the ids of the workloads it displaced (now released).
    fn remove_node(&self, py: Python<'_>, name: &str) -> PyResult<Vec<String>> {
        self.inner.call(py, |c| c.remove_node(name))
    }

    /// Places a workload with the cluster's policy, or `policy` for this call. With a policy
    /// engine attached, the workload is first admitted against its tenant's quotas at `now`
    /// (seconds; default `time.monotonic()`): a refusal raises `QuotaExceeded`.
    #[pyo3(signature = (workload, policy=None, now=None))]
    fn place(
        &self,
        py: Python<'_>,
        workload: PyWorkload,
        policy: Option<&str>,
        now: Option<f64>,
    ) -> PyResult<PyPlacement> {
        let policy = parse_policy(policy)?;
        let now = self.now(py, now)?;
        let placed = self
            .inner
            .call(py, |c| c.place_at(workload.inner, policy, now));
        placed.map(|inner| PyPlacement { inner })
    }

    /// Places many workloads in one call (columns as numpy arrays). Returns
    /// `(placed: bool[n], node: int64[n], gpus: int64[n, max_gpu_count])` with -1 where nothing
    /// was placed; indices refer to `node_names()` and `gpu_ids()`. `allowed_models` and
    /// `node_selector` give one list (or dict) per workload. A bad entry raises
    /// `InvalidRequest` naming its index and places nothing. With a policy engine attached,
    /// each workload is admitted at `now` as `place` does; a refusal leaves it unplaced.
    #[pyo3(signature = (ids, memory_mib, gpu_count, compute_milli=None, cpu_milli=None,
        host_memory_mib=None, priority=None, tenant="default", policy=None, allowed_models=None,
        node_selector=None, now=None))]
    #[allow(clippy::too_many_arguments)]
    fn place_many<'py>(
        &self,
        py: Python<'py>,
        ids: Vec<String>,
        memory_mib: bulk::Column<'py>,
        gpu_count: bulk::Column<'py>,
        compute_milli: Option<bulk::Column<'py>>,
        cpu_milli: Option<bulk::Column<'py>>,
        host_memory_mib: Option<bulk::Column<'py>>,
        priority: Option<bulk::Column<'py>>,
        tenant: &str,
        policy: Option<&str>,
        allowed_models: Option<Vec<Vec<String>>>,
        node_selector: Option<Vec<BTreeMap<String, String>>>,
        now: Option<f64>,
    ) -> PyResult<bulk::Outcome<'py>> {
        let policy = parse_policy(policy)?;
        let now = self.now(py, now)?;
        let columns = bulk::Columns {
            memory_mib,
            gpu_count,
            compute_milli,
            cpu_milli,
            host_memory_mib,
            priority,
            allowed_models,
            node_selector,
        };
        let workloads = columns.workloads(ids, tenant)?;
        let placed = self
            .inner
            .call(py, |c| c.place_batch_at(workloads, policy, now))?;
        bulk::outcome(py, &placed)
    }

    /// Every tenant's figures at `now` (default `time.monotonic()`): those of the attached
    /// policy engine, then any other tenant holding placements.
    #[pyo3(signature = (now=None))]
    fn tenant_figures(&self, py: Python<'_>, now: Option<f64>) -> PyResult<Vec<PyTenantFigures>> {
        let now = self.now(py, now)?;
        let all = self.inner.run(py, |c| c.tenant_figures(now));
        Ok(all.into_iter().map(PyTenantFigures::from).collect())
    }

    /// One tenant's figures at `now`; `NotFound` if neither the engine nor a placement knows it.
    #[pyo3(signature = (tenant, now=None))]
    fn tenant_figure(
        &self,
        py: Python<'_>,
        tenant: &str,
        now: Option<f64>,
    ) -> PyResult<PyTenantFigures> {
        let now = self.now(py, now)?;
        let one = self.inner.call(py, |c| c.tenant_figure(tenant, now));
        one.map(PyTenantFigures::from)
    }

    /// Releases many workloads; returns a bool array, False where the id was not placed.
    fn release_many<'py>(
        &self,
        py: Python<'py>,
        ids: Vec<String>,
    ) -> Bound<'py, numpy::PyArray1<bool>> {
        let released = self.inner.run(py, |c| c.release_batch(&ids));
        numpy::PyArray1::from_vec(py, released)
    }

    /// Frees exactly what the workload holds; returns where it was. An attached policy engine
    /// charges its usage up to `now` (default `time.monotonic()`).
    #[pyo3(signature = (workload_id, now=None))]
    fn release(
        &self,
        py: Python<'_>,
        workload_id: &str,
        now: Option<f64>,
    ) -> PyResult<PyPlacement> {
        let now = self.now(py, now)?;
        let released = self.inner.call(py, |c| c.release_at(workload_id, now));
        released.map(|inner| PyPlacement { inner })
    }

    /// The cheapest set of lower-priority preemptible victims that lets `workload` fit, or None.
    /// With a policy engine attached, victims are those its reclaim laws allow at `now`.
    #[pyo3(signature = (workload, now=None))]
    fn preemption_plan(
        &self,
        py: Python<'_>,
        workload: PyWorkload,
        now: Option<f64>,
    ) -> PyResult<Option<PyPreemptionPlan>> {
        let now = self.now(py, now)?;
        let plan = self
            .inner
            .call(py, |c| c.preemption_plan_at(&workload.inner, now))?;
        Ok(plan.map(|inner| PyPreemptionPlan { inner }))
    }

    /// Executes a plan at `now`: evicts its victims and places its workload. Raises `Conflict`
    /// if stale.
    #[pyo3(signature = (plan, now=None))]
    fn preempt(
        &self,
        py: Python<'_>,
        plan: PyPreemptionPlan,
        now: Option<f64>,
    ) -> PyResult<PyPlacement> {
        let now = self.now(py, now)?;
        let done = self.inner.call(py, |c| c.preempt_at(&plan.inner, now))?;
        Ok(PyPlacement { inner: done.0 })
    }

    /// Attaches a policy engine (or detaches it with None). Placed workloads are recorded in it
    /// as running since `now`; one whose tenant or class it does not know raises and nothing
    /// changes.
    #[pyo3(signature = (policy, now=None))]
    fn set_policy_engine(
        &self,
        py: Python<'_>,
        policy: Option<PyRef<'_, PyPolicy>>,
        now: Option<f64>,
    ) -> PyResult<()> {
        let engine = policy.map(|p| p.inner.shared().clone());
        let now = now_or_clock(py, now)?;
        self.inner.call(py, |c| c.set_policy_engine(engine, now))
    }

    /// The attached policy engine (the same shared state), or None.
    #[getter]
    fn policy_engine(&self, py: Python<'_>) -> Option<PyPolicy> {
        let engine = self.inner.run(py, |c| c.policy_engine().cloned());
        engine.map(PyPolicy::from_shared)
    }

    /// Memory used on a GPU by processes gpuplane did not place (as NVML reports it).
    fn set_external_usage(&self, py: Python<'_>, gpu_id: &str, memory_mib: i64) -> PyResult<()> {
        let mib = unsigned("memory_mib", memory_mib)?;
        self.inner.call(py, |c| c.set_external_usage(gpu_id, mib))
    }

    /// Marks a GPU healthy or unhealthy; draining returns the displaced (released) workload ids.
    fn set_gpu_health(&self, py: Python<'_>, gpu_id: &str, healthy: bool) -> PyResult<Vec<String>> {
        self.inner.call(py, |c| c.set_gpu_health(gpu_id, healthy))
    }

    /// Fixes the workload distribution `fgd` optimizes for, as (workload shape, weight) pairs;
    /// `None` returns to learning it online from requests.
    #[pyo3(signature = (shapes))]
    fn set_workload_distribution(
        &self,
        py: Python<'_>,
        shapes: Option<Vec<(PyWorkload, f64)>>,
    ) -> PyResult<()> {
        let given = shapes.map(|v| v.into_iter().map(|(w, p)| (shape_of(&w), p)).collect());
        self.inner.call(py, |c| c.set_workload_distribution(given))
    }

    /// The distribution `fgd` currently uses: (shape fields, probability) pairs.
    fn workload_distribution<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Vec<(Bound<'py, PyDict>, f64)>> {
        let shapes = self.inner.run(py, |c| c.workload_distribution());
        shapes
            .into_iter()
            .map(|(s, p)| {
                let d = PyDict::new(py);
                d.set_item("gpu_count", s.gpu_count)?;
                d.set_item("memory_mib", s.memory_mib)?;
                d.set_item("compute_milli", s.compute_milli)?;
                d.set_item("cpu_milli", s.cpu_milli)?;
                d.set_item("host_memory_mib", s.host_memory_mib)?;
                Ok((d, p))
            })
            .collect()
    }

    /// The whole state as bytes (stable, versioned, checksummed).
    fn snapshot<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let data = self.inner.run(py, |c| c.snapshot());
        PyBytes::new(py, &data)
    }

    /// A cluster rebuilt from `snapshot()` bytes; raises `SnapshotError` on damaged data.
    #[classmethod]
    fn restore(_cls: &Bound<'_, PyType>, py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let cluster = py.detach(|| Cluster::restore(data)).map_err(to_py)?;
        Ok(PyCluster {
            inner: Locked::new(cluster),
        })
    }

    /// Capacity, usage, allocation ratios and fragmentation.
    fn stats(&self, py: Python<'_>) -> PyClusterStats {
        self.inner.run(py, |c| c.stats()).into()
    }

    /// Where a live workload is placed, or None.
    fn allocation(&self, py: Python<'_>, workload_id: &str) -> Option<PyPlacement> {
        let placement = self.inner.run(py, |c| c.placement_of(workload_id));
        placement.map(|inner| PyPlacement { inner })
    }

    /// Ids of all live workloads, sorted.
    fn workloads(&self, py: Python<'_>) -> Vec<String> {
        self.inner.run(py, |c| {
            c.allocations().map(|a| a.workload.id.clone()).collect()
        })
    }

    /// GPU ids by GPU index (the indices `place_many` returns); None for removed GPUs.
    fn gpu_ids(&self, py: Python<'_>) -> Vec<Option<String>> {
        self.inner.run(py, |c| {
            let gpus = c.inventory().gpus.iter();
            gpus.map(|g| g.as_ref().map(|g| g.id.clone())).collect()
        })
    }

    /// Node names by node index (the indices `place_many` returns); None for removed nodes.
    fn node_names(&self, py: Python<'_>) -> Vec<Option<String>> {
        self.inner.run(py, |c| {
            let nodes = c.inventory().nodes.iter();
            nodes.map(|n| n.as_ref().map(|n| n.name.clone())).collect()
        })
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.inner.run(py, |c| c.allocations().count())
    }

    fn __contains__(&self, py: Python<'_>, workload_id: &str) -> bool {
        self.inner.run(py, |c| c.allocation(workload_id).is_some())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.inner.run(py, |c| {
            let inv = c.inventory();
            Repr::new("Cluster")
                .field("policy", c.policy().name())
                .field("nodes", inv.live_nodes().count())
                .field("gpus", inv.live_gpus().count())
                .field("workloads", c.allocations().count())
                .finish()
        })
    }
}

fn shape_of(w: &PyWorkload) -> Shape {
    let w = &w.inner;
    Shape {
        gpu_count: w.gpu_count,
        memory_mib: w.memory_mib,
        compute_milli: w.compute_milli,
        cpu_milli: w.cpu_milli,
        host_memory_mib: w.host_memory_mib,
    }
}
