//! Frozen value classes of the policy engine: its configuration, quotas, priority classes,
//! tenants, admission decisions, finished requests and explanations. Resource amounts cross as dicts keyed by
//! resource name (`gpus`, `memory_mib`, `tokens_per_s`, `concurrent`).

use std::collections::BTreeMap;

use gpuplane_core::policy::{
    Decision, Explanation, Finished, ModelQuota, PolicyConfig, PriorityClass, Quota, TenantSpec,
};
use pyo3::prelude::*;

use crate::amounts::{limits, resources, Amounts, Caps};
use crate::errors::{invalid, signed32, to_py};
use crate::repr::{PyRepr, Ratio, Repr};

/// Per-GPU-model quotas from `{model: {"guaranteed": x, "limit": y}}`.
fn model_quotas(
    d: Option<BTreeMap<String, BTreeMap<String, Option<f64>>>>,
) -> PyResult<BTreeMap<String, ModelQuota>> {
    let mut out = BTreeMap::new();
    for (model, parts) in d.unwrap_or_default() {
        let mut mq = ModelQuota::default();
        for (k, v) in parts {
            match (k.as_str(), v) {
                ("guaranteed", v) => mq.guaranteed = v.unwrap_or(0.0),
                ("limit", v) => mq.limit = v,
                _ => {
                    return Err(invalid(
                        &format!("quota.models[{model}].{k}"),
                        "expected 'guaranteed' or 'limit'",
                    ))
                }
            }
        }
        out.insert(model, mq);
    }
    Ok(out)
}

/// Engine-wide settings of a `Policy`.
#[pyclass(frozen, eq, module = "gpuplane", name = "PolicyConfig", from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyPolicyConfig {
    pub inner: PolicyConfig,
}

#[pymethods]
impl PyPolicyConfig {
    #[new]
    #[pyo3(signature = (*, half_life_s=86400.0, usage_factor=0.5, w_in=1.0, w_out=2.0,
        collateral_factor=2.0, min_runtime_s=60.0, default_burst_s=1.0, gpu_prices=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        half_life_s: f64,
        usage_factor: f64,
        w_in: f64,
        w_out: f64,
        collateral_factor: f64,
        min_runtime_s: f64,
        default_burst_s: f64,
        gpu_prices: Option<BTreeMap<String, f64>>,
    ) -> PyResult<Self> {
        let inner = PolicyConfig {
            half_life_s,
            usage_factor,
            w_in,
            w_out,
            collateral_factor,
            min_runtime_s,
            default_burst_s,
            gpu_prices: gpu_prices.unwrap_or_default(),
        };
        inner.validate().map_err(to_py)?;
        Ok(PyPolicyConfig { inner })
    }

    #[getter]
    fn half_life_s(&self) -> f64 {
        self.inner.half_life_s
    }
    #[getter]
    fn usage_factor(&self) -> f64 {
        self.inner.usage_factor
    }
    #[getter]
    fn w_in(&self) -> f64 {
        self.inner.w_in
    }
    #[getter]
    fn w_out(&self) -> f64 {
        self.inner.w_out
    }
    #[getter]
    fn collateral_factor(&self) -> f64 {
        self.inner.collateral_factor
    }
    #[getter]
    fn min_runtime_s(&self) -> f64 {
        self.inner.min_runtime_s
    }
    #[getter]
    fn default_burst_s(&self) -> f64 {
        self.inner.default_burst_s
    }
    #[getter]
    fn gpu_prices(&self) -> BTreeMap<String, f64> {
        self.inner.gpu_prices.clone()
    }

    fn __repr__(&self) -> String {
        let c = &self.inner;
        Repr::new("PolicyConfig")
            .field("half_life_s", c.half_life_s)
            .field("usage_factor", c.usage_factor)
            .field("w_in", c.w_in)
            .field("w_out", c.w_out)
            .field("collateral_factor", c.collateral_factor)
            .field("min_runtime_s", c.min_runtime_s)
            .field("default_burst_s", c.default_burst_s)
            .field_if(!c.gpu_prices.is_empty(), "gpu_prices", &c.gpu_prices)
            .finish()
    }
}

/// The quota of one tenant-tree node, checked when built.
#[pyclass(frozen, eq, module = "gpuplane", name = "Quota", from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyQuota {
    pub inner: Quota,
}

/// A quota's parts as Python gives them, each optional (see `Quota`'s docs).
#[derive(Default)]
pub struct QuotaParts {
    pub guaranteed: Option<BTreeMap<String, f64>>,
    pub deserved: Option<BTreeMap<String, f64>>,
    pub limit: Option<BTreeMap<String, Option<f64>>>,
    pub over_quota_priority: Option<i64>,
    pub over_quota_weight: Option<f64>,
    pub models: Option<BTreeMap<String, BTreeMap<String, Option<f64>>>>,
}

impl QuotaParts {
    /// Whether any part is given.
    pub fn given(&self) -> bool {
        self.guaranteed.is_some()
            || self.deserved.is_some()
            || self.limit.is_some()
            || self.over_quota_priority.is_some()
            || self.over_quota_weight.is_some()
            || self.models.is_some()
    }

    /// The checked quota (parts not given take their defaults).
    pub fn build(self) -> PyResult<Quota> {
        let priority = self.over_quota_priority.unwrap_or(0);
        let inner = Quota {
            guaranteed: resources("quota.guaranteed", self.guaranteed)?,
            deserved: resources("quota.deserved", self.deserved)?,
            limit: limits("quota.limit", self.limit)?,
            over_quota_priority: signed32("quota.over_quota_priority", priority)?,
            over_quota_weight: self.over_quota_weight.unwrap_or(1.0),
            models: model_quotas(self.models)?,
        };
        inner.validate().map_err(to_py)?;
        Ok(inner)
    }
}

#[pymethods]
impl PyQuota {
    #[new]
    #[pyo3(signature = (guaranteed=None, deserved=None, limit=None, *, over_quota_priority=0,
        over_quota_weight=1.0, models=None))]
    fn new(
        guaranteed: Option<BTreeMap<String, f64>>,
        deserved: Option<BTreeMap<String, f64>>,
        limit: Option<BTreeMap<String, Option<f64>>>,
        over_quota_priority: i64,
        over_quota_weight: f64,
        models: Option<BTreeMap<String, BTreeMap<String, Option<f64>>>>,
    ) -> PyResult<Self> {
        let parts = QuotaParts {
            guaranteed,
            deserved,
            limit,
            over_quota_priority: Some(over_quota_priority),
            over_quota_weight: Some(over_quota_weight),
            models,
        };
        let inner = parts.build()?;
        Ok(PyQuota { inner })
    }

    #[getter]
    fn guaranteed(&self) -> Amounts {
        Amounts(self.inner.guaranteed)
    }
    #[getter]
    fn deserved(&self) -> Amounts {
        Amounts(self.inner.deserved)
    }
    #[getter]
    fn limit(&self) -> Caps {
        Caps(self.inner.limit)
    }
    #[getter]
    fn over_quota_priority(&self) -> i32 {
        self.inner.over_quota_priority
    }
    #[getter]
    fn over_quota_weight(&self) -> f64 {
        self.inner.over_quota_weight
    }
    #[getter]
    fn models(&self) -> BTreeMap<String, BTreeMap<&'static str, Option<f64>>> {
        let parts = |m: &ModelQuota| {
            BTreeMap::from([("guaranteed", Some(m.guaranteed)), ("limit", m.limit)])
        };
        self.inner
            .models
            .iter()
            .map(|(k, m)| (k.clone(), parts(m)))
            .collect()
    }

    fn __repr__(&self) -> String {
        self.inner.py_repr()
    }
}

impl PyRepr for Quota {
    fn py_repr(&self) -> String {
        let q = self;
        Repr::new("Quota")
            .field("guaranteed", Amounts(q.guaranteed))
            .field("deserved", Amounts(q.deserved))
            .field("limit", Caps(q.limit))
            .field("over_quota_priority", q.over_quota_priority)
            .field("over_quota_weight", q.over_quota_weight)
            .finish()
    }
}

/// A priority class: a name, a value (higher preempts lower) and whether its work may be
/// preempted. Non-preemptible work runs only within guaranteed quota.
#[pyclass(
    frozen,
    eq,
    module = "gpuplane",
    name = "PriorityClass",
    from_py_object
)]
#[derive(Clone, PartialEq)]
pub struct PyPriorityClass {
    pub inner: PriorityClass,
}

#[pymethods]
impl PyPriorityClass {
    #[new]
    #[pyo3(signature = (name, value, preemptible=true))]
    fn new(name: String, value: i64, preemptible: bool) -> PyResult<Self> {
        let inner = PriorityClass::new(name, signed32("value", value)?, preemptible);
        inner.validate().map_err(to_py)?;
        Ok(PyPriorityClass { inner })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn value(&self) -> i32 {
        self.inner.value
    }
    #[getter]
    fn preemptible(&self) -> bool {
        self.inner.preemptible
    }

    fn __repr__(&self) -> String {
        let c = &self.inner;
        Repr::new("PriorityClass")
            .field("name", &c.name)
            .field("value", c.value)
            .field("preemptible", c.preemptible)
            .finish()
    }
}

/// One node of the tenant tree as configured.
#[pyclass(frozen, eq, module = "gpuplane", name = "Tenant")]
#[derive(Clone, PartialEq)]
pub struct PyTenant {
    pub inner: TenantSpec,
}

#[pymethods]
impl PyTenant {
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn parent(&self) -> Option<&str> {
        self.inner.parent.as_deref()
    }
    #[getter]
    fn quota(&self) -> PyQuota {
        PyQuota {
            inner: self.inner.quota.clone(),
        }
    }
    #[getter]
    fn max_queued(&self) -> Option<u32> {
        self.inner.max_queued
    }
    #[getter]
    fn budget(&self) -> Option<f64> {
        self.inner.budget
    }
    #[getter]
    fn burst_tokens(&self) -> Option<f64> {
        self.inner.burst_tokens
    }

    fn __repr__(&self) -> String {
        let t = &self.inner;
        Repr::new("Tenant")
            .field("name", &t.name)
            .field("parent", &t.parent)
            .field("quota", &t.quota)
            .finish()
    }
}

/// The outcome of `Policy.admit`: `outcome` is `admit`, `queue` or `reject`; `reason` the
/// stable code (`admitted`, `queued_quota`, `rejected_limit`, `rejected_rate`,
/// `rejected_queue_cap`, `rejected_budget`, `rejected_deadline`, `rejected_unknown_tenant`,
/// `rejected_class`); `text` says why in words.
#[pyclass(frozen, eq, module = "gpuplane", name = "AdmissionDecision")]
#[derive(Clone, PartialEq)]
pub struct PyAdmissionDecision {
    pub inner: Decision,
}

#[pymethods]
impl PyAdmissionDecision {
    #[getter]
    fn outcome(&self) -> &'static str {
        self.inner.reason.outcome()
    }
    #[getter]
    fn reason(&self) -> &'static str {
        self.inner.reason.code()
    }
    #[getter]
    fn text(&self) -> &str {
        &self.inner.text
    }
    #[getter]
    fn request_id(&self) -> &str {
        &self.inner.request_id
    }
    #[getter]
    fn at(&self) -> f64 {
        self.inner.at
    }
    #[getter]
    fn admitted(&self) -> bool {
        self.inner.reason.is_admitted()
    }
    /// The program (workflow id) this decision ended: a rejected call aborts its program.
    #[getter]
    fn ended_program(&self) -> Option<&str> {
        self.inner.ended_program.as_deref()
    }

    fn __repr__(&self) -> String {
        self.inner.py_repr()
    }
}

impl PyRepr for Decision {
    fn py_repr(&self) -> String {
        let d = self;
        Repr::new("AdmissionDecision")
            .field("request_id", &d.request_id)
            .field("outcome", d.reason.outcome())
            .field("reason", d.reason.code())
            .field("text", &d.text)
            .field_if(d.ended_program.is_some(), "ended_program", &d.ended_program)
            .finish()
    }
}

/// The outcome of `Policy.finish`: whether the request was running (released) rather than
/// queued (cancelled), and the program (workflow id) it ended, completed or aborted, if any.
#[pyclass(frozen, eq, module = "gpuplane", name = "Finished")]
#[derive(Clone, PartialEq)]
pub struct PyFinished {
    pub inner: Finished,
}

#[pymethods]
impl PyFinished {
    #[getter]
    fn was_running(&self) -> bool {
        self.inner.was_running
    }
    #[getter]
    fn ended_program(&self) -> Option<&str> {
        self.inner.ended_program.as_deref()
    }

    fn __repr__(&self) -> String {
        let f = &self.inner;
        Repr::new("Finished")
            .field("was_running", f.was_running)
            .field("ended_program", &f.ended_program)
            .finish()
    }
}

/// Where a tenant-tree node stands (`Policy.explain`): fair share, quota, demand, allocation,
/// decayed usage, dominant share, borrowed and lent amounts, and its last admission decision.
#[pyclass(frozen, module = "gpuplane", name = "Explanation")]
pub struct PyExplanation {
    pub inner: Explanation,
}

#[pymethods]
impl PyExplanation {
    #[getter]
    fn tenant(&self) -> &str {
        &self.inner.tenant
    }
    #[getter]
    fn path(&self) -> Vec<String> {
        self.inner.path.clone()
    }
    #[getter]
    fn fair_share(&self) -> Amounts {
        Amounts(self.inner.fair_share)
    }
    #[getter]
    fn guaranteed(&self) -> Amounts {
        Amounts(self.inner.guaranteed)
    }
    #[getter]
    fn deserved(&self) -> Amounts {
        Amounts(self.inner.deserved)
    }
    #[getter]
    fn limit(&self) -> Caps {
        Caps(self.inner.limit)
    }
    #[getter]
    fn demand(&self) -> Amounts {
        Amounts(self.inner.demand)
    }
    #[getter]
    fn allocated(&self) -> Amounts {
        Amounts(self.inner.allocated)
    }
    #[getter]
    fn usage(&self) -> Amounts {
        Amounts(self.inner.usage)
    }
    #[getter]
    fn dominant_share(&self) -> f64 {
        self.inner.dominant_share
    }
    #[getter]
    fn fair_share_ratio(&self) -> f64 {
        self.inner.fair_share_ratio
    }
    #[getter]
    fn borrowed(&self) -> Amounts {
        Amounts(self.inner.borrowed)
    }
    #[getter]
    fn lent(&self) -> Amounts {
        Amounts(self.inner.lent)
    }
    #[getter]
    fn spent(&self) -> f64 {
        self.inner.spent
    }
    #[getter]
    fn budget(&self) -> Option<f64> {
        self.inner.budget
    }
    #[getter]
    fn queued(&self) -> u32 {
        self.inner.queued
    }
    #[getter]
    fn running(&self) -> u32 {
        self.inner.running
    }
    #[getter]
    fn last_decision(&self) -> Option<PyAdmissionDecision> {
        self.inner
            .last_decision
            .clone()
            .map(|inner| PyAdmissionDecision { inner })
    }
    #[getter]
    fn summary(&self) -> &str {
        &self.inner.summary
    }

    fn __str__(&self) -> &str {
        &self.inner.summary
    }

    fn __repr__(&self) -> String {
        let e = &self.inner;
        Repr::new("Explanation")
            .field("tenant", &e.tenant)
            .field("fair_share", Amounts(e.fair_share))
            .field("allocated", Amounts(e.allocated))
            .field("usage", Amounts(e.usage))
            .field("dominant_share", Ratio(e.dominant_share))
            .field("borrowed", Amounts(e.borrowed))
            .field("lent", Amounts(e.lent))
            .field("queued", e.queued)
            .field("running", e.running)
            .field("last_decision", &e.last_decision)
            .finish()
    }
}
