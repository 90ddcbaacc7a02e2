//! Frozen value classes: what callers build and what decisions return.

use std::collections::BTreeMap;

use gpuplane_core::inventory::GpuSpec;
use gpuplane_core::placement::{Placement, PreemptionPlan, Workload};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::batching_values::py_float;
use crate::errors::{signed32, to_py, unsigned, unsigned32};

/// Formats `name(k=v, ...)` for `__repr__`.
pub fn repr(name: &str, fields: &[(&str, String)]) -> String {
    let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{name}({})", parts.join(", "))
}

/// A string quoted the way Python's `repr` quotes it.
pub fn q(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A list of strings as Python would print it.
pub fn q_list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", parts.join(", "))
}

/// Strings as Python's `repr` writes a tuple of them.
pub fn q_tuple(items: &[String]) -> String {
    match items {
        [one] => format!("({},)", q(one)),
        _ => format!(
            "({})",
            items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or("None".into(), q)
}

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
        repr(
            "GpuSpec",
            &[
                ("model", q(&g.model)),
                ("memory_mib", g.memory_mib.to_string()),
                ("compute_milli", g.compute_milli.to_string()),
                ("topology_group", opt(&g.topology_group)),
                ("id", opt(&g.id)),
            ],
        )
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
        workload_repr(&self.inner)
    }
}

pub fn workload_repr(w: &Workload) -> String {
    let mut fields = vec![
        ("id", q(&w.id)),
        ("memory_mib", w.memory_mib.to_string()),
        ("gpu_count", w.gpu_count.to_string()),
        ("tenant", q(&w.tenant)),
    ];
    let optional: [(&str, bool, String); 8] = [
        (
            "compute_milli",
            w.compute_milli > 0,
            w.compute_milli.to_string(),
        ),
        ("cpu_milli", w.cpu_milli > 0, w.cpu_milli.to_string()),
        (
            "host_memory_mib",
            w.host_memory_mib > 0,
            w.host_memory_mib.to_string(),
        ),
        (
            "allowed_models",
            !w.allowed_models.is_empty(),
            q_list(&w.allowed_models),
        ),
        (
            "node_selector",
            !w.node_selector.is_empty(),
            selector_repr(&w.node_selector),
        ),
        ("priority", w.priority != 0, w.priority.to_string()),
        ("preemptible", !w.preemptible, "False".into()),
        (
            "priority_class",
            w.priority_class.is_some(),
            opt(&w.priority_class),
        ),
    ];
    fields.extend(
        optional
            .into_iter()
            .filter(|(_, set, _)| *set)
            .map(|(k, _, v)| (k, v)),
    );
    repr("Workload", &fields)
}

fn selector_repr(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}: {}", q(k), q(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
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
        repr(
            "Placement",
            &[
                ("workload_id", q(&p.workload_id)),
                ("node", q(&p.node)),
                ("gpu_ids", q_tuple(&p.gpu_ids)),
                ("memory_mib", p.memory_mib.to_string()),
                ("compute_milli", p.compute_milli.to_string()),
                ("policy", q(&p.policy)),
                ("score", py_float(p.score)),
                ("reason", q(&p.reason)),
                ("tenant", q(&p.tenant)),
            ],
        )
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
        repr(
            "PreemptionPlan",
            &[
                ("workload", q(&p.workload.id)),
                ("node", q(&p.node)),
                ("victims", q_list(&p.victims)),
                ("evicted_memory_mib", p.evicted_memory_mib.to_string()),
            ],
        )
    }
}
