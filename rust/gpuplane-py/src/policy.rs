//! `gpuplane.Policy`: the policy engine (tenants, quotas, classes, fair share, admission),
//! shareable by a `Cluster` and `BatchScheduler`s. Every call converts and delegates to
//! `gpuplane_core::policy::Policy` behind one shared lock.
//!
//! Time: methods that depend on it take `now` in seconds. Omitted, it is `time.monotonic()`,
//! read here in the binding; the core never reads a clock. Times earlier than the latest one
//! the engine has seen count as that latest one.

use std::collections::BTreeMap;

use gpuplane_core::policy::{
    shared, AdmissionRequest, Policy, PolicyConfig, PriorityClass, ProgramCall, SharedPolicy,
};
use gpuplane_core::Error;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyType};

use crate::amounts::{self, resources};
use crate::errors::{invalid, signed32, to_py, unsigned, unsigned32};
use crate::locked::Locked;
use crate::policy_values::{
    PyAdmissionDecision, PyExplanation, PyFinished, PyPolicyConfig, PyPriorityClass, PyQuota,
    PyTenant,
};
use crate::program_figures::PyProgramFigures;
use crate::repr::Repr;
use crate::tenant_spec::tenant_spec;

static MONOTONIC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `now`, or `time.monotonic()` when omitted.
pub fn now_or_clock(py: Python<'_>, now: Option<f64>) -> PyResult<f64> {
    if let Some(t) = now {
        return Ok(t);
    }
    let f = MONOTONIC.get_or_try_init(py, || {
        py.import("time")?.getattr("monotonic").map(Bound::unbind)
    })?;
    f.bind(py).call0()?.extract()
}

type Amounts = Option<BTreeMap<String, f64>>;

/// A priority class, or just its name.
#[derive(FromPyObject)]
enum ClassArg {
    Class(PyPriorityClass),
    Name(String),
}

/// The policy engine: a tenant tree with quotas, priority classes, fair share, decayed usage,
/// token buckets, budgets and admission with reasons. Share one between a `Cluster`
/// (`Cluster.set_policy_engine`) and `BatchScheduler`s (`BatchScheduler(config, policy=...)`)
/// so that all decide in the same terms and charge the same accounts. Bad input raises
/// `InvalidRequest` naming the field and changes nothing.
#[pyclass(frozen, module = "gpuplane", name = "Policy")]
pub struct PyPolicy {
    pub inner: Locked<Policy>,
}

impl PyPolicy {
    /// A handle on an engine the core already shares (attached to a cluster or scheduler).
    pub fn from_shared(engine: SharedPolicy) -> Self {
        PyPolicy {
            inner: Locked::from_shared(engine),
        }
    }
}

#[pymethods]
impl PyPolicy {
    #[new]
    #[pyo3(signature = (config=None))]
    fn new(config: Option<PyPolicyConfig>) -> PyResult<Self> {
        let config = config.map_or_else(PolicyConfig::default, |c| c.inner);
        let p = Policy::new(config).map_err(to_py)?;
        Ok(PyPolicy::from_shared(shared(p)))
    }

    /// The configuration.
    #[getter]
    fn config(&self, py: Python<'_>) -> PyPolicyConfig {
        PyPolicyConfig {
            inner: self.inner.run(py, |p| p.config().clone()),
        }
    }

    /// The latest time the engine has seen (seconds).
    #[getter]
    fn now(&self, py: Python<'_>) -> f64 {
        self.inner.run(py, |p| p.clock())
    }

    /// Adds a tree node under `parent` (`None`: the cluster). Its quota is `quota` or the
    /// keyword parts (`guaranteed`, `deserved`, `limit` as `{resource: amount}` dicts, ...).
    #[pyo3(signature = (name, parent=None, quota=None, **parts))]
    fn add_tenant(
        &self,
        py: Python<'_>,
        name: String,
        parent: Option<String>,
        quota: Option<PyQuota>,
        parts: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let s = tenant_spec("add_tenant", name, parent, quota, parts)?;
        self.inner.call(py, |p| p.add_tenant(s))
    }

    /// Replaces a node's spec (same arguments as `add_tenant`); may move it to another parent
    /// (cycles are refused).
    #[pyo3(signature = (name, parent=None, quota=None, **parts))]
    fn update_tenant(
        &self,
        py: Python<'_>,
        name: String,
        parent: Option<String>,
        quota: Option<PyQuota>,
        parts: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let s = tenant_spec("update_tenant", name, parent, quota, parts)?;
        self.inner.call(py, |p| p.update_tenant(s))
    }

    /// Removes a node without children, running or queued work.
    fn remove_tenant(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        self.inner.call(py, |p| p.remove_tenant(name))
    }

    /// Every node, parents before children.
    fn tenants(&self, py: Python<'_>) -> Vec<PyTenant> {
        let tenants = self
            .inner
            .run(py, |p| p.tenants().into_iter().cloned().collect::<Vec<_>>());
        tenants
            .into_iter()
            .map(|inner| PyTenant { inner })
            .collect()
    }

    /// Adds or replaces a priority class: a `PriorityClass`, or its name, value and
    /// preemptibility.
    #[pyo3(signature = (priority_class, value=None, preemptible=true))]
    fn upsert_class(
        &self,
        py: Python<'_>,
        priority_class: ClassArg,
        value: Option<i64>,
        preemptible: bool,
    ) -> PyResult<()> {
        let class = match (priority_class, value) {
            (ClassArg::Class(c), None) => c.inner,
            (ClassArg::Name(name), Some(v)) => {
                PriorityClass::new(name, signed32("value", v)?, preemptible)
            }
            (ClassArg::Class(_), Some(_)) => {
                return Err(invalid(
                    "value",
                    "give a PriorityClass or a name and a value",
                ))
            }
            (ClassArg::Name(_), None) => return Err(invalid("value", "missing")),
        };
        self.inner.call(py, |p| p.upsert_class(class))
    }

    /// Removes a priority class (`Conflict` while running work uses it).
    fn remove_class(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        self.inner.call(py, |p| p.remove_class(name))
    }

    /// Every priority class, by name (`default` and `critical` exist from the start).
    fn classes(&self, py: Python<'_>) -> Vec<PyPriorityClass> {
        let classes = self
            .inner
            .run(py, |p| p.classes().cloned().collect::<Vec<_>>());
        classes
            .into_iter()
            .map(|inner| PyPriorityClass { inner })
            .collect()
    }

    /// Sets the cluster capacity shared by the top-level nodes, as a `{resource: amount}`
    /// dict or as keywords (`gpus=8, memory_mib=640000`); resources not given are 0.
    #[pyo3(signature = (capacity=None, **amounts))]
    fn set_capacity(
        &self,
        py: Python<'_>,
        capacity: Amounts,
        amounts: Option<BTreeMap<String, f64>>,
    ) -> PyResult<()> {
        let mut all = capacity.unwrap_or_default();
        all.extend(amounts.unwrap_or_default());
        let c = resources("capacity", Some(all))?;
        self.inner.call(py, |p| p.set_capacity(c))
    }

    /// Sets a leaf's demand (what it would use unconstrained).
    fn set_demand(
        &self,
        py: Python<'_>,
        tenant: &str,
        demand: BTreeMap<String, f64>,
    ) -> PyResult<()> {
        let d = resources("demand", Some(demand))?;
        self.inner.call(py, |p| p.set_demand(tenant, d))
    }

    /// Charges `w_in * prompt_tokens + w_out * output_tokens` weighted tokens to a leaf's usage.
    #[pyo3(signature = (tenant, prompt_tokens, output_tokens, now=None))]
    fn charge_tokens(
        &self,
        py: Python<'_>,
        tenant: &str,
        prompt_tokens: i64,
        output_tokens: i64,
        now: Option<f64>,
    ) -> PyResult<()> {
        let prompt = unsigned("prompt_tokens", prompt_tokens)?;
        let output = unsigned("output_tokens", output_tokens)?;
        let now = now_or_clock(py, now)?;
        self.inner
            .call(py, |p| p.charge_tokens(tenant, prompt, output, now))
    }

    /// Decayed usage of a node at `now` (the clock is not advanced).
    #[pyo3(signature = (tenant, now=None))]
    fn usage(&self, py: Python<'_>, tenant: &str, now: Option<f64>) -> PyResult<amounts::Amounts> {
        let now = now_or_clock(py, now)?;
        self.inner
            .call(py, |p| p.usage(tenant, now))
            .map(amounts::Amounts)
    }

    /// Resources a node's subtree holds now.
    fn allocated(&self, py: Python<'_>, tenant: &str) -> PyResult<amounts::Amounts> {
        self.inner
            .call(py, |p| p.allocated(tenant))
            .map(amounts::Amounts)
    }

    /// A node's fair share, made current incrementally (its path and the siblings along it).
    fn fair_share(&self, py: Python<'_>, tenant: &str) -> PyResult<amounts::Amounts> {
        let r = self.inner.call(py, |p| p.resolve_fair_share(tenant));
        r.map(amounts::Amounts)
    }

    /// Every node's fair share by name, computed from scratch (the baseline of the incremental
    /// `fair_share`; it also makes every cached share current).
    fn fair_shares(&self, py: Python<'_>) -> BTreeMap<String, amounts::Amounts> {
        let all = self.inner.run(py, |p| {
            p.recompute_all_fair_shares();
            p.full_fair_shares()
        });
        all.into_iter()
            .map(|(k, r)| (k, amounts::Amounts(r)))
            .collect()
    }

    /// Recomputes every fair share from scratch (the full-recomputation baseline).
    fn recompute_fair_shares(&self, py: Python<'_>) {
        self.inner.run(py, |p| p.recompute_all_fair_shares());
    }

    /// Dominant share (DRF): `max over resources of allocated / capacity`.
    fn dominant_share(&self, py: Python<'_>, tenant: &str) -> PyResult<f64> {
        self.inner.call(py, |p| p.dominant_share(tenant))
    }

    /// `max over resources of allocated / fair share`.
    fn fair_share_ratio(&self, py: Python<'_>, tenant: &str) -> PyResult<f64> {
        self.inner.call(py, |p| p.fair_share_ratio(tenant))
    }

    /// Decides a request at `now`: admit (it holds `resources` until `release`), queue, or
    /// reject, with a reason code and text (an unknown tenant or class is a rejection with its
    /// own code, so a stream of requests never raises on one; malformed fields raise). `tokens` are weighted tokens taken from token
    /// buckets; `est_duration_s` prices it (GPU-hours by `gpu_model`); `queue_ahead /
    /// service_rate` estimates its wait against `deadline_s`.
    #[pyo3(signature = (id, tenant, resources=None, *, priority_class="default".to_string(),
        gpu_model=None, tokens=0.0, est_duration_s=0.0, deadline_s=None, queue_ahead=0.0,
        service_rate=0.0, now=None, workflow=None, call_index=0))]
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        py: Python<'_>,
        id: String,
        tenant: String,
        resources: Amounts,
        priority_class: String,
        gpu_model: Option<String>,
        tokens: f64,
        est_duration_s: f64,
        deadline_s: Option<f64>,
        queue_ahead: f64,
        service_rate: f64,
        now: Option<f64>,
        workflow: Option<String>,
        call_index: i64,
    ) -> PyResult<PyAdmissionDecision> {
        let program = workflow.map(|workflow| -> PyResult<ProgramCall> {
            let call_index = unsigned32("call_index", call_index)?;
            Ok(ProgramCall {
                workflow,
                call_index,
            })
        });
        let req = AdmissionRequest {
            program: program.transpose()?,
            id,
            tenant,
            class: priority_class,
            resources: amounts::resources("resources", resources)?,
            gpu_model,
            tokens,
            est_duration_s,
            deadline_s,
            queue_ahead,
            service_rate,
        };
        let now = now_or_clock(py, now)?;
        let d = self.inner.call(py, |p| p.admit(&req, now))?;
        Ok(PyAdmissionDecision { inner: d })
    }

    /// Releases admitted work at `now`, charging `resources * run time` to its usage. For a
    /// program's call, `more_calls` says whether its program goes on (else it completes).
    #[pyo3(signature = (id, now=None, *, more_calls=false))]
    fn release(
        &self,
        py: Python<'_>,
        id: &str,
        now: Option<f64>,
        more_calls: bool,
    ) -> PyResult<()> {
        let now = now_or_clock(py, now)?;
        self.inner
            .call(py, |p| p.release_call(id, now, more_calls).map(|_| ()))
    }

    /// Ends request `id` at `now`: releases it if running (a program's call: its program goes
    /// on with `more_calls`, else completes) or cancels it if queued (aborting its program).
    /// Raises `NotFound` if it is neither.
    #[pyo3(signature = (id, now=None, *, more_calls=false))]
    fn finish(
        &self,
        py: Python<'_>,
        id: &str,
        now: Option<f64>,
        more_calls: bool,
    ) -> PyResult<PyFinished> {
        let now = now_or_clock(py, now)?;
        let inner = self.inner.call(py, |p| p.finish(id, now, more_calls))?;
        Ok(PyFinished { inner })
    }

    /// Each tenant's agent programs (calls admitted with a `workflow`), in tenant order.
    fn program_figures(&self, py: Python<'_>) -> Vec<PyProgramFigures> {
        self.inner
            .run(py, |p| p.program_figures())
            .into_iter()
            .map(|inner| PyProgramFigures { inner })
            .collect()
    }

    /// Drops a queued request.
    fn cancel(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        self.inner.call(py, |p| p.cancel(id))
    }

    /// Ids of running (admitted or placed) work.
    fn running(&self, py: Python<'_>) -> Vec<String> {
        self.inner
            .run(py, |p| p.running_all().map(|r| r.id.clone()).collect())
    }

    /// Ids of queued requests.
    fn queued(&self, py: Python<'_>) -> Vec<String> {
        self.inner
            .run(py, |p| p.queued().map(str::to_owned).collect())
    }

    /// A node's standing at `now`: fair share, usage, dominant share, borrowed and lent
    /// amounts, and why its last request was queued or rejected.
    #[pyo3(signature = (tenant, now=None))]
    fn explain(&self, py: Python<'_>, tenant: &str, now: Option<f64>) -> PyResult<PyExplanation> {
        let now = now_or_clock(py, now)?;
        let e = self.inner.call(py, |p| p.explain(tenant, now))?;
        Ok(PyExplanation { inner: e })
    }

    /// The whole state as bytes (versioned JSON; see `restore`).
    fn snapshot<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let data = self.inner.run(py, |p| {
            serde_json::to_vec(&*p).expect("policy state serializes")
        });
        PyBytes::new(py, &data)
    }

    /// An engine rebuilt from `snapshot()` bytes, every part re-validated; raises
    /// `SnapshotError` on damaged data.
    #[classmethod]
    fn restore(_cls: &Bound<'_, PyType>, py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let p: Policy = py
            .detach(|| serde_json::from_slice(data))
            .map_err(|e| to_py(Error::Snapshot(e.to_string())))?;
        Ok(PyPolicy::from_shared(shared(p)))
    }

    /// Raises `InvalidRequest` on `tenant` unless it is a known leaf (one that can hold work):
    /// the check `BatchScheduler.add` makes, for refusing a request before it gets there.
    fn check_leaf(&self, py: Python<'_>, tenant: &str) -> PyResult<()> {
        self.inner.call(py, |p| p.check_leaf(tenant))
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.inner.run(py, |p| p.tenant_count())
    }

    fn __contains__(&self, py: Python<'_>, tenant: &str) -> bool {
        self.inner.run(py, |p| p.tenant(tenant).is_some())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.inner.run(py, |p| {
            Repr::new("Policy")
                .field("tenants", p.tenant_count())
                .field("classes", p.classes().count())
                .field("running", p.running_all().count())
                .finish()
        })
    }
}
