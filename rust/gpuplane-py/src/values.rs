//! Frozen value classes: what callers build and what decisions return.

use std::collections::BTreeMap;

use gpuplane_core::inventory::GpuSpec;
use gpuplane_core::placement::{Placement, PreemptionPlan, Workload};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors::{signed32, to_py, unsigned, unsigned32};
use crate::repr::{PyRepr, Repr, Tuple};

/// One GPU of a node: model, memory, compute capacity, topology group and optional stable id.
#[pyclass(frozen, eq, module = "gpuplane", name = "GpuSpec", from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyGpuSpec {
    pub inner: GpuSpec,
}

#[pymethods]
impl PyGpuSpec {
    #[new]
    #[pyo3(signature = (model, memory_mib, compute_milli=1000, topology_group=None, id=None))]
    fn new(
        model: String,
        memory_mib: i64,
        compute_milli: i64,
        topology_group: Option<String>,
        id: Option<String>,
    ) -> PyResult<Self> {
        Ok(PyGpuSpec {
            inner: GpuSpec {
                model,
                memory_mib: unsigned("memory_mib", memory_mib)?,
                compute_milli: unsigned32("compute_milli", compute_milli)?,
                topology_group,
                id,
            },
        })
    }

    #[getter]
    fn model(&self) -> &str {
        &self.inner.model
    }
    #[getter]
    fn memory_mib(&self) -> u64 {
        self.inner.memory_mib
    }
    #[getter]
    fn compute_milli(&self) -> u32 {
        self.inner.compute_milli
    }
    #[getter]
    fn topology_group(&self) -> Option<&str> {
        self.inner.topology_group.as_deref()
    }
    #[getter]
    fn id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }

    fn __repr__(&self) -> String {
        let g = &self.inner;
        Repr::new("GpuSpec")
            .field("model", &g.model)
            .field("memory_mib", g.memory_mib)
            .field("compute_milli", g.compute_milli)
            .field("topology_group", &g.topology_group)
            .field("id", &g.id)
            .finish()
    }
}

/// A request for GPUs: `gpu_count` GPUs on one node (all or nothing), each with `memory_mib`
/// of memory and `compute_milli` of compute, plus optional host resources and constraints.
#[pyclass(frozen, eq, module = "gpuplane", name = "Workload", from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyWorkload {
    pub inner: Workload,
}

#[pymethods]
impl PyWorkload {
    #[new]
    #[pyo3(signature = (id, memory_mib=0, gpu_count=1, *, tenant="default".to_string(), compute_milli=0,
        cpu_milli=0, host_memory_mib=0, allowed_models=Vec::new(), node_selector=None, priority=0, preemptible=true,
        priority_class=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: String,
        memory_mib: i64,
        gpu_count: i64,
        tenant: String,
        compute_milli: i64,
        cpu_milli: i64,
        host_memory_mib: i64,
        allowed_models: Vec<String>,
        node_selector: Option<BTreeMap<String, String>>,
        priority: i64,
        preemptible: bool,
        priority_class: Option<String>,
    ) -> PyResult<Self> {
        let inner = Workload {
            id,
            tenant,
            memory_mib: unsigned("memory_mib", memory_mib)?,
            gpu_count: unsigned32("gpu_count", gpu_count)?,
            compute_milli: unsigned32("compute_milli", compute_milli)?,
            cpu_milli: unsigned("cpu_milli", cpu_milli)?,
            host_memory_mib: unsigned("host_memory_mib", host_memory_mib)?,
            allowed_models,
            node_selector: node_selector.unwrap_or_default(),
            priority: signed32("priority", priority)?,
            preemptible,
            priority_class,
        };
        inner.validate().map_err(to_py)?;
        Ok(PyWorkload { inner })
    }

    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    #[getter]
    fn tenant(&self) -> &str {
        &self.inner.tenant
    }
    #[getter]
    fn memory_mib(&self) -> u64 {
        self.inner.memory_mib
    }
    #[getter]
    fn gpu_count(&self) -> u32 {
        self.inner.gpu_count
    }
    #[getter]
    fn compute_milli(&self) -> u32 {
        self.inner.compute_milli
    }
    #[getter]
    fn cpu_milli(&self) -> u64 {
        self.inner.cpu_milli
    }
    #[getter]
    fn host_memory_mib(&self) -> u64 {
        self.inner.host_memory_mib
    }
    #[getter]
    fn allowed_models(&self) -> Vec<String> {
        self.inner.allowed_models.clone()
    }
    #[getter]
    fn node_selector(&self) -> BTreeMap<String, String> {
        self.inner.node_selector.clone()
    }
    #[getter]
    fn priority(&self) -> i32 {
        self.inner.priority
    }
    #[getter]
    fn preemptible(&self) -> bool {
        self.inner.preemptible
    }
    /// The policy engine's priority class, which then gives priority and preemptibility.
    #[getter]
    fn priority_class(&self) -> Option<&str> {
        self.inner.priority_class.as_deref()
    }

    fn __repr__(&self) -> String {
        self.inner.py_repr()
    }
}

impl PyRepr for Workload {
    fn py_repr(&self) -> String {
        let w = self;
        Repr::new("Workload")
            .field("id", &w.id)
            .field("memory_mib", w.memory_mib)
            .field("gpu_count", w.gpu_count)
            .field("tenant", &w.tenant)
            .field_if(w.compute_milli > 0, "compute_milli", w.compute_milli)
            .field_if(w.cpu_milli > 0, "cpu_milli", w.cpu_milli)
            .field_if(w.host_memory_mib > 0, "host_memory_mib", w.host_memory_mib)
            .field_if(
                !w.allowed_models.is_empty(),
                "allowed_models",
                &w.allowed_models,
            )
            .field_if(
                !w.node_selector.is_empty(),
                "node_selector",
                &w.node_selector,
            )
            .field_if(w.priority != 0, "priority", w.priority)
            .field_if(!w.preemptible, "preemptible", w.preemptible)
            .field_if(
                w.priority_class.is_some(),
                "priority_class",
                &w.priority_class,
            )
            .finish()
    }
}

/// Where a workload was placed and why.
#[pyclass(frozen, eq, module = "gpuplane", name = "Placement")]
#[derive(Clone, PartialEq)]
pub struct PyPlacement {
    pub inner: Placement,
}

#[pymethods]
impl PyPlacement {
    /// A placement as the service reports it (the client builds its results with this).
    #[new]
    #[pyo3(signature = (workload_id, node, gpu_ids, memory_mib, compute_milli=0, policy="",
        score=0.0, reason="", tenant=""))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        workload_id: String,
        node: String,
        gpu_ids: Vec<String>,
        memory_mib: u64,
        compute_milli: u32,
        policy: &str,
        score: f64,
        reason: &str,
        tenant: &str,
    ) -> Self {
        PyPlacement {
            inner: Placement {
                workload_id,
                node,
                gpu_ids,
                memory_mib,
                compute_milli,
                policy: policy.to_owned(),
                score,
                reason: reason.to_owned(),
                tenant: tenant.to_owned(),
            },
        }
    }
    #[getter]
    fn workload_id(&self) -> &str {
        &self.inner.workload_id
    }
    #[getter]
    fn node(&self) -> &str {
        &self.inner.node
    }
    /// The GPUs, in the order the policy chose them (a tuple: a placement does not change).
    #[getter]
    fn gpu_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.gpu_ids)
    }
    #[getter]
    fn tenant(&self) -> &str {
        &self.inner.tenant
    }
    #[getter]
    fn memory_mib(&self) -> u64 {
        self.inner.memory_mib
    }
    #[getter]
    fn compute_milli(&self) -> u32 {
        self.inner.compute_milli
    }
    #[getter]
    fn policy(&self) -> &str {
        &self.inner.policy
    }
    #[getter]
    fn score(&self) -> f64 {
        self.inner.score
    }
    #[getter]
    fn reason(&self) -> &str {
        &self.inner.reason
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        Repr::new("Placement")
            .field("workload_id", &p.workload_id)
            .field("node", &p.node)
            .field("gpu_ids", Tuple(&p.gpu_ids))
            .field("memory_mib", p.memory_mib)
            .field("compute_milli", p.compute_milli)
            .field("policy", &p.policy)
            .field("score", p.score)
            .field("reason", &p.reason)
            .field("tenant", &p.tenant)
            .finish()
    }
}

/// A proposal to evict `victims` from `node` so that `workload` fits there.
#[pyclass(
    frozen,
    eq,
    module = "gpuplane",
    name = "PreemptionPlan",
    from_py_object
)]
#[derive(Clone, PartialEq)]
pub struct PyPreemptionPlan {
    pub inner: PreemptionPlan,
}

#[pymethods]
impl PyPreemptionPlan {
    #[getter]
    fn workload(&self) -> PyWorkload {
        PyWorkload {
            inner: self.inner.workload.clone(),
        }
    }
    #[getter]
    fn node(&self) -> &str {
        &self.inner.node
    }
    #[getter]
    fn victims(&self) -> Vec<String> {
        self.inner.victims.clone()
    }
    #[getter]
    fn evicted_memory_mib(&self) -> u64 {
        self.inner.evicted_memory_mib
    }
    #[getter]
    fn reason(&self) -> &str {
        &self.inner.reason
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        Repr::new("PreemptionPlan")
            .field("workload", &p.workload.id)
            .field("node", &p.node)
            .field("victims", &p.victims)
            .field("evicted_memory_mib", p.evicted_memory_mib)
            .finish()
    }
}
