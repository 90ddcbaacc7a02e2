//! Frozen value classes of the policy engine: its configuration, quotas, priority classes,
//! tenants, admission decisions and explanations. Resource amounts cross as dicts keyed by
//! resource name (`gpus`, `memory_mib`, `tokens_per_s`, `concurrent`).

use std::collections::BTreeMap;

use gpuplane_core::policy::{
    Decision, Explanation, Limits, ModelQuota, PolicyConfig, PriorityClass, Quota, Resource,
    Resources, TenantSpec,
};
use pyo3::prelude::*;

use crate::batching_values::py_float;
use crate::errors::{invalid, signed32, to_py};
use crate::values::{q, repr};

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
fn limits(field: &str, d: Option<BTreeMap<String, Option<f64>>>) -> PyResult<Limits> {
    let mut out = Limits::NONE;
    for (k, v) in d.unwrap_or_default() {
        out.set(resource(field, &k)?, v);
    }
    Ok(out)
}

/// Amounts as a dict with every resource.
pub fn res_dict(r: &Resources) -> BTreeMap<&'static str, f64> {
    Resource::ALL
        .into_iter()
        .map(|k| (k.name(), r.get(k)))
        .collect()
}

/// Caps as a dict with only the capped resources.
fn limit_dict(l: &Limits) -> BTreeMap<&'static str, f64> {
    Resource::ALL
        .into_iter()
        .filter_map(|k| l.0[k.index()].map(|v| (k.name(), v)))
        .collect()
}

/// `{'gpus': 1.0, ...}` with only the non-zero amounts, in resource order.
fn res_repr(pairs: impl Iterator<Item = (Resource, f64)>) -> String {
    let parts: Vec<String> = pairs
        .filter(|&(_, v)| v != 0.0)
        .map(|(k, v)| format!("{}: {}", q(k.name()), py_float(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

pub fn amounts_repr(r: &Resources) -> String {
    res_repr(Resource::ALL.into_iter().map(|k| (k, r.get(k))))
}

fn limits_repr(l: &Limits) -> String {
    res_repr(
        Resource::ALL
            .into_iter()
            .filter_map(|k| l.0[k.index()].map(|v| (k, v))),
    )
}

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
        repr(
            "PolicyConfig",
            &[
                ("half_life_s", py_float(c.half_life_s)),
                ("usage_factor", py_float(c.usage_factor)),
                ("w_in", py_float(c.w_in)),
                ("w_out", py_float(c.w_out)),
                ("collateral_factor", py_float(c.collateral_factor)),
                ("min_runtime_s", py_float(c.min_runtime_s)),
                ("default_burst_s", py_float(c.default_burst_s)),
            ],
        )
    }
}

/// The quota of one tenant-tree node, checked when built.
#[pyclass(frozen, eq, module = "gpuplane", name = "Quota", from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyQuota {
    pub inner: Quota,
}

impl PyQuota {
    /// A checked quota from its parts (all optional; see the class docs).
    pub fn build(
        guaranteed: Option<BTreeMap<String, f64>>,
        deserved: Option<BTreeMap<String, f64>>,
        limit: Option<BTreeMap<String, Option<f64>>>,
        over_quota_priority: i64,
        over_quota_weight: f64,
        models: Option<BTreeMap<String, BTreeMap<String, Option<f64>>>>,
    ) -> PyResult<Quota> {
        let inner = Quota {
            guaranteed: resources("quota.guaranteed", guaranteed)?,
            deserved: resources("quota.deserved", deserved)?,
            limit: limits("quota.limit", limit)?,
            over_quota_priority: signed32("quota.over_quota_priority", over_quota_priority)?,
            over_quota_weight,
            models: model_quotas(models)?,
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
        let inner = PyQuota::build(
            guaranteed,
            deserved,
            limit,
            over_quota_priority,
            over_quota_weight,
            models,
        )?;
        Ok(PyQuota { inner })
    }

    #[getter]
    fn guaranteed(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.guaranteed)
    }
    #[getter]
    fn deserved(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.deserved)
    }
    #[getter]
    fn limit(&self) -> BTreeMap<&'static str, f64> {
        limit_dict(&self.inner.limit)
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
        quota_repr(&self.inner)
    }
}

fn quota_repr(q: &Quota) -> String {
    repr(
        "Quota",
        &[
            ("guaranteed", amounts_repr(&q.guaranteed)),
            ("deserved", amounts_repr(&q.deserved)),
            ("limit", limits_repr(&q.limit)),
            ("over_quota_priority", q.over_quota_priority.to_string()),
            ("over_quota_weight", py_float(q.over_quota_weight)),
        ],
    )
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
        let pre = if c.preemptible { "True" } else { "False" };
        repr(
            "PriorityClass",
            &[
                ("name", q(&c.name)),
                ("value", c.value.to_string()),
                ("preemptible", pre.into()),
            ],
        )
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
        repr(
            "Tenant",
            &[
                ("name", q(&t.name)),
                ("parent", t.parent.as_deref().map_or("None".into(), q)),
                ("quota", quota_repr(&t.quota)),
            ],
        )
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

impl PyAdmissionDecision {
    fn outcome_of(d: &Decision) -> &'static str {
        d.reason.outcome()
    }
}

#[pymethods]
impl PyAdmissionDecision {
    #[getter]
    fn outcome(&self) -> &'static str {
        Self::outcome_of(&self.inner)
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

    fn __repr__(&self) -> String {
        decision_repr(&self.inner)
    }
}

fn decision_repr(d: &Decision) -> String {
    repr(
        "AdmissionDecision",
        &[
            ("request_id", q(&d.request_id)),
            ("outcome", q(PyAdmissionDecision::outcome_of(d))),
            ("reason", q(d.reason.code())),
            ("text", q(&d.text)),
        ],
    )
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
    fn fair_share(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.fair_share)
    }
    #[getter]
    fn guaranteed(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.guaranteed)
    }
    #[getter]
    fn deserved(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.deserved)
    }
    #[getter]
    fn limit(&self) -> BTreeMap<&'static str, f64> {
        limit_dict(&self.inner.limit)
    }
    #[getter]
    fn demand(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.demand)
    }
    #[getter]
    fn allocated(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.allocated)
    }
    #[getter]
    fn usage(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.usage)
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
    fn borrowed(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.borrowed)
    }
    #[getter]
    fn lent(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.lent)
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
        let last = e
            .last_decision
            .as_ref()
            .map_or("None".into(), decision_repr);
        repr(
            "Explanation",
            &[
                ("tenant", q(&e.tenant)),
                ("fair_share", amounts_repr(&e.fair_share)),
                ("allocated", amounts_repr(&e.allocated)),
                ("usage", amounts_repr(&e.usage)),
                ("dominant_share", format!("{:.4}", e.dominant_share)),
                ("borrowed", amounts_repr(&e.borrowed)),
                ("lent", amounts_repr(&e.lent)),
                ("queued", e.queued.to_string()),
                ("running", e.running.to_string()),
                ("last_decision", last),
            ],
        )
    }
}
