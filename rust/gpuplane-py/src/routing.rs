//! `gpuplane.Router`: engine replicas, their reported loads and the routing choice. Every call
//! converts, releases the GIL and delegates to `gpuplane_core::routing::Router`.

use std::collections::BTreeMap;

use gpuplane_core::routing::{
    Load, ReplicaSpec, ReplicaStatus, Route, RouteRequest, Router, RouterLimits, RouterOptions,
    RoutingPolicy, ScoreTerms, OVERLAP_WEIGHT, QUEUE_WEIGHT,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{unsigned, unsigned32};
use crate::locked::Locked;
use crate::repr::Repr;

/// The chosen replica, its score, the prompt blocks it has cached, and the score terms.
#[pyclass(frozen, module = "gpuplane", name = "Route")]
pub struct PyRoute {
    inner: Route,
}

#[pymethods]
impl PyRoute {
    #[getter]
    fn replica_id(&self) -> &str {
        &self.inner.replica_id
    }
    #[getter]
    fn address(&self) -> &str {
        &self.inner.address
    }
    #[getter]
    fn score(&self) -> f64 {
        self.inner.score
    }
    #[getter]
    fn prefix_blocks(&self) -> u32 {
        self.inner.prefix_blocks
    }
    #[getter]
    fn reason(&self) -> String {
        self.inner.reason()
    }
    /// The dispatch's number, from 1 in the router's dispatch order (0: not recorded).
    #[getter]
    fn dispatch(&self) -> u64 {
        self.inner.dispatch
    }
    /// The weighted terms in KV blocks (`prefix`, `adapter`, `load`, `fair`) whose sum is `score`.
    #[getter]
    fn terms<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (k, v) in ScoreTerms::NAMES.into_iter().zip(self.inner.terms.values()) {
            out.set_item(k, v)?;
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        let r = &self.inner;
        Repr::new("Route")
            .field("replica_id", &r.replica_id)
            .field("address", &r.address)
            .field("score", r.score)
            .field("prefix_blocks", r.prefix_blocks)
            .field("reason", r.reason())
            .finish()
    }
}

/// A registered replica and its last reported load.
#[pyclass(frozen, module = "gpuplane", name = "ReplicaStatus")]
pub struct PyReplicaStatus {
    inner: ReplicaStatus,
}

#[pymethods]
impl PyReplicaStatus {
    #[getter]
    fn id(&self) -> &str {
        &self.inner.spec.id
    }
    #[getter]
    fn address(&self) -> &str {
        &self.inner.spec.address
    }
    #[getter]
    fn model(&self) -> &str {
        &self.inner.spec.model
    }
    /// The tenant it is dedicated to; empty: shared.
    #[getter]
    fn tenant(&self) -> &str {
        &self.inner.spec.tenant
    }
    #[getter]
    fn kv_blocks(&self) -> u32 {
        self.inner.spec.kv_blocks
    }
    #[getter]
    fn block_size(&self) -> u32 {
        self.inner.spec.block_size
    }
    #[getter]
    fn max_running(&self) -> u32 {
        self.inner.spec.max_running
    }
    #[getter]
    fn waiting(&self) -> u32 {
        self.inner.load.waiting
    }
    #[getter]
    fn running(&self) -> u32 {
        self.inner.load.running
    }
    #[getter]
    fn kv_usage(&self) -> f64 {
        self.inner.load.kv_usage
    }
    /// KV blocks its waiting requests still need, as reported.
    #[getter]
    fn waiting_blocks(&self) -> u32 {
        self.inner.load.waiting_blocks
    }
    /// The load the cost model charges, in KV blocks.
    #[getter]
    fn load_blocks(&self) -> f64 {
        self.inner.load_blocks()
    }
    /// How many KV block hashes it reported cached.
    #[getter]
    fn cached_blocks(&self) -> usize {
        self.inner.load.cached.len()
    }
    /// Resident adapters, sorted.
    #[getter]
    fn resident_adapters(&self) -> Vec<String> {
        self.inner.load.adapters.iter().cloned().collect()
    }
    #[getter]
    fn tenant_service(&self) -> BTreeMap<String, f64> {
        self.inner.load.tenant_service.clone()
    }
    /// Requests waiting per tenant, as reported.
    #[getter]
    fn tenant_waiting(&self) -> BTreeMap<String, u32> {
        self.inner.load.tenant_waiting.clone()
    }
    /// Requests routed to it with `record=True` since it registered.
    #[getter]
    fn routed(&self) -> u64 {
        self.inner.routed
    }

    /// Requests routed to it (`note_routed`) and not yet done (`note_done`).
    #[getter]
    fn in_flight(&self) -> u32 {
        self.inner.in_flight
    }

    fn __repr__(&self) -> String {
        let (s, l) = (&self.inner.spec, &self.inner.load);
        let adapters: Vec<String> = l.adapters.iter().cloned().collect();
        Repr::new("ReplicaStatus")
            .field("id", &s.id)
            .field("address", &s.address)
            .field("model", &s.model)
            .field("tenant", &s.tenant)
            .field("max_running", s.max_running)
            .field("waiting", l.waiting)
            .field("running", l.running)
            .field("in_flight", self.inner.in_flight)
            .field("kv_usage", l.kv_usage)
            .field("cached_blocks", l.cached.len())
            .field("resident_adapters", &adapters)
            .field("routed", self.inner.routed)
            .finish()
    }
}

/// Engine replicas (soft state) and the choice of one per request: by prefix-cache overlap,
/// adapter residency, queue depth, KV usage and the tenant's share of recent service.
#[pyclass(frozen, module = "gpuplane", name = "Router")]
pub struct PyRouter {
    inner: Locked<Router>,
}

#[pymethods]
impl PyRouter {
    /// A router scoring by `policy` (`ROUTING_POLICIES`; `cost`: the cost model, the
    /// default) with `overlap_weight` blocks of load per cached prompt block and
    /// `workflow_weight` per prompt block of a program's previous call on its replica, weighing a
    /// tenant's queue-share excess on a replica by `queue_weight`, refusing more
    /// than `max_replicas` replicas (`max_replicas_per_tenant` for one tenant; `CapacityError`),
    /// loads with more than `max_load_entries` tenants or adapters (`InvalidRequest`) and more
    /// than `max_tracked_requests` routed requests with an id not finished.
    #[new]
    #[pyo3(signature = (*, policy="cost", overlap_weight=OVERLAP_WEIGHT, max_replicas=None,
        max_replicas_per_tenant=None, max_load_entries=None, max_tracked_requests=None,
        workflow_weight=OVERLAP_WEIGHT, queue_weight=QUEUE_WEIGHT))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        policy: &str,
        overlap_weight: f64,
        max_replicas: Option<usize>,
        max_replicas_per_tenant: Option<usize>,
        max_load_entries: Option<usize>,
        max_tracked_requests: Option<usize>,
        workflow_weight: f64,
        queue_weight: f64,
    ) -> PyResult<Self> {
        let d = RouterLimits::default();
        let limits = RouterLimits {
            max_replicas: max_replicas.unwrap_or(d.max_replicas),
            max_replicas_per_tenant: max_replicas_per_tenant.unwrap_or(d.max_replicas_per_tenant),
            max_load_entries: max_load_entries.unwrap_or(d.max_load_entries),
            max_tracked_requests: max_tracked_requests.unwrap_or(d.max_tracked_requests),
        };
        let options = RouterOptions {
            policy: RoutingPolicy::parse(policy).map_err(crate::errors::to_py)?,
            overlap_weight,
            workflow_weight,
            queue_weight,
        };
        let router = Router::configured(limits, options).map_err(crate::errors::to_py)?;
        Ok(PyRouter {
            inner: Locked::new(router),
        })
    }

    /// The routing policy's name.
    #[getter]
    fn policy(&self, py: Python<'_>) -> &'static str {
        self.inner.run(py, |r| r.options().policy.name())
    }

    /// Up to `limit` replicas with ids after `after` (in id order) and whether more follow;
    /// with `tenant`, only that tenant's and the shared ones.
    #[pyo3(signature = (after="", limit=500, tenant=None))]
    fn page(
        &self,
        py: Python<'_>,
        after: &str,
        limit: usize,
        tenant: Option<&str>,
    ) -> (Vec<PyReplicaStatus>, bool) {
        let (page, more) = self.inner.run(py, |r| {
            let (page, more) = r.page(after, limit, tenant);
            (page.into_iter().cloned().collect::<Vec<_>>(), more)
        });
        let page = page.into_iter().map(|inner| PyReplicaStatus { inner });
        (page.collect(), more)
    }

    /// Adds or replaces a replica; a re-registered replica keeps its last load.
    #[pyo3(signature = (id, *, address=String::new(), model=String::new(), tenant=String::new(),
        kv_blocks=0, block_size=0, max_running=0))]
    #[allow(clippy::too_many_arguments)]
    fn register(
        &self,
        py: Python<'_>,
        id: String,
        address: String,
        model: String,
        tenant: String,
        kv_blocks: i64,
        block_size: i64,
        max_running: i64,
    ) -> PyResult<()> {
        let spec = ReplicaSpec {
            id,
            address,
            model,
            tenant,
            kv_blocks: unsigned32("kv_blocks", kv_blocks)?,
            block_size: unsigned32("block_size", block_size)?,
            max_running: unsigned32("max_running", max_running)?,
        };
        self.inner.call(py, |r| r.register(spec))
    }

    /// Removes a replica; `NotFound` if it is not registered.
    fn unregister(&self, py: Python<'_>, id: &str) -> PyResult<()> {
        self.inner.call(py, |r| r.unregister(id).map(drop))
    }

    /// Records a replica's load, replacing the last one. With `reflects_dispatch` (the last
    /// recorded route's `dispatch` the figures include), only the dispatches up to it stop
    /// counting as the replica's unreported load, and a report older than one already
    /// recorded is ignored; without it, every dispatch so far counts as reported.
    /// `tenant_waiting`: its waiting requests per tenant (the queue-share term's input).
    #[pyo3(signature = (replica_id, *, waiting=0, running=0, kv_usage=0.0, waiting_blocks=0,
        cached_block_hashes=Vec::new(), resident_adapters=Vec::new(), tenant_service=BTreeMap::new(),
        reflects_dispatch=None, tenant_waiting=BTreeMap::new()))]
    #[allow(clippy::too_many_arguments)]
    fn report_load(
        &self,
        py: Python<'_>,
        replica_id: &str,
        waiting: i64,
        running: i64,
        kv_usage: f64,
        waiting_blocks: i64,
        cached_block_hashes: Vec<u64>,
        resident_adapters: Vec<String>,
        tenant_service: BTreeMap<String, f64>,
        reflects_dispatch: Option<i64>,
        tenant_waiting: BTreeMap<String, i64>,
    ) -> PyResult<()> {
        let reflects_dispatch = reflects_dispatch
            .map(|d| unsigned("reflects_dispatch", d))
            .transpose()?;
        let waiting = unsigned32("waiting", waiting)?;
        let running = unsigned32("running", running)?;
        let waiting_blocks = unsigned32("waiting_blocks", waiting_blocks)?;
        let tenant_waiting = tenant_waiting
            .into_iter()
            .map(|(t, n)| unsigned32(&format!("tenant_waiting[{t}]"), n).map(|n| (t, n)))
            .collect::<PyResult<BTreeMap<String, u32>>>()?;
        self.inner.call(py, |r| {
            let load = Load {
                waiting,
                running,
                kv_usage,
                waiting_blocks,
                cached: cached_block_hashes.into_iter().collect(),
                adapters: resident_adapters.into_iter().collect(),
                tenant_service,
                tenant_waiting,
                reflects_dispatch,
            };
            r.report_load(replica_id, load)
        })
    }

    /// The best replica for a request; `NotFound` when no registered replica serves it. With
    /// `record`, the choice is counted on the chosen replica (its `routed`, and its prompt
    /// blocks until the replica's next report): for callers that follow the answer. A recorded
    /// request with a `request_id` is tracked until `finish` (in flight there, and backlog of
    /// its tenant fleet-wide). With a `workflow` key (agent program; `program_key` of its tenant
    /// and string id), a recorded call's replica is remembered and the program's next call
    /// prefers it unless load says otherwise.
    #[pyo3(signature = (*, tenant="default".to_string(), model=String::new(), adapter=String::new(),
        block_hashes=Vec::new(), prompt_tokens=0, request_id=String::new(), record=false,
        workflow=None))]
    #[allow(clippy::too_many_arguments)]
    fn route(
        &self,
        py: Python<'_>,
        tenant: String,
        model: String,
        adapter: String,
        block_hashes: Vec<u64>,
        prompt_tokens: i64,
        request_id: String,
        record: bool,
        workflow: Option<i64>,
    ) -> PyResult<PyRoute> {
        let workflow = workflow.map(|w| unsigned("workflow", w)).transpose()?;
        let req = RouteRequest {
            id: request_id,
            tenant,
            model,
            adapter,
            block_hashes,
            prompt_tokens: unsigned32("prompt_tokens", prompt_tokens)?,
            workflow,
        };
        let route = self.inner.call(py, |r| {
            if record {
                r.dispatch(&req)
            } else {
                r.route(&req)
            }
        });
        route.map(|inner| PyRoute { inner })
    }

    /// The last recorded route's `dispatch` (0 before any).
    fn last_dispatch(&self, py: Python<'_>) -> u64 {
        self.inner.run(py, |r| r.last_dispatch())
    }

    /// Program `workflow` has ended: forgets the replica of its last call.
    fn end_program(&self, py: Python<'_>, workflow: i64) -> PyResult<()> {
        let workflow = unsigned("workflow", workflow)?;
        self.inner.run(py, |r| r.end_program(workflow));
        Ok(())
    }

    /// Programs whose last call's replica is remembered (at most 65,536 and 16,384 of one
    /// tenant, the least recently routed forgotten beyond).
    fn known_programs(&self, py: Python<'_>) -> usize {
        self.inner.run(py, |r| r.known_programs())
    }

    /// The replica program `workflow`'s last recorded call went to, if remembered.
    fn program_replica(&self, py: Python<'_>, workflow: i64) -> PyResult<Option<String>> {
        let workflow = unsigned("workflow", workflow)?;
        Ok(self
            .inner
            .run(py, |r| r.program_replica(workflow).map(str::to_string)))
    }

    /// A recorded request is done: its tenant's fleet-wide counter is charged the tokens
    /// the replica served it (`input_tokens` prefill, `output_tokens` generated, at the
    /// batching weights). Returns the replica it was routed to; `NotFound` if not tracked.
    #[pyo3(signature = (request_id, *, input_tokens=0, output_tokens=0))]
    fn finish(
        &self,
        py: Python<'_>,
        request_id: &str,
        input_tokens: i64,
        output_tokens: i64,
    ) -> PyResult<String> {
        let input = crate::errors::unsigned("input_tokens", input_tokens)?;
        let output = crate::errors::unsigned("output_tokens", output_tokens)?;
        self.inner
            .call(py, |r| r.finish_tokens(request_id, input, output))
    }

    /// The tenant of a recorded request not finished (None if not tracked).
    fn tracked_tenant(&self, py: Python<'_>, request_id: &str) -> Option<String> {
        self.inner
            .run(py, |r| r.tracked_tenant(request_id).map(str::to_string))
    }

    /// Sets a tenant's fair-share weight for the fleet counters (finite, > 0).
    fn set_tenant_weight(&self, py: Python<'_>, tenant: &str, weight: f64) -> PyResult<()> {
        self.inner
            .call(py, |r| r.fleet_mut().set_weight(tenant, weight))
    }

    /// Fleet-wide tenant counters (weighted service / weight, with VTC lifts), by tenant.
    fn fleet_counters(&self, py: Python<'_>) -> BTreeMap<String, f64> {
        self.inner.run(py, |r| {
            r.fleet()
                .counters()
                .map(|(t, c)| (t.to_string(), c))
                .collect()
        })
    }

    /// Counts a request routed to a replica as in flight there; `NotFound` if unknown.
    fn note_routed(&self, py: Python<'_>, replica_id: &str) -> PyResult<()> {
        self.inner.call(py, |r| r.note_routed(replica_id))
    }

    /// Counts one in-flight request of a replica as done; `NotFound` if unknown.
    fn note_done(&self, py: Python<'_>, replica_id: &str) -> PyResult<()> {
        self.inner.call(py, |r| r.note_done(replica_id))
    }

    /// One replica and its last load; `NotFound` if it is not registered.
    fn replica(&self, py: Python<'_>, id: &str) -> PyResult<PyReplicaStatus> {
        let replica = self.inner.call(py, |r| r.replica(id).cloned());
        replica.map(|inner| PyReplicaStatus { inner })
    }

    /// The replicas and their last loads, by id.
    fn replicas(&self, py: Python<'_>) -> Vec<PyReplicaStatus> {
        let replicas = self
            .inner
            .run(py, |r| r.replicas().cloned().collect::<Vec<_>>());
        replicas
            .into_iter()
            .map(|inner| PyReplicaStatus { inner })
            .collect()
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.inner.run(py, |r| r.len())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let len = self.inner.run(py, |r| r.len());
        Repr::new("Router").field("replicas", len).finish()
    }
}
