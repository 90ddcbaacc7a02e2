//! Admission: admit, queue or reject a request, always with a reason code and text.
//!
//! Checks, in order (the first that fails decides):
//!
//! 1. the tenant is a known leaf, else [`Reason::RejectedUnknownTenant`];
//! 2. the class is known, else [`Reason::RejectedClass`];
//! 3. the request alone fits every limit on the tenant's path (and the cluster, and for
//!    non-preemptible work the guarantees), else [`Reason::RejectedLimit`];
//! 4. its cost `gpus * price(model) * est_duration_s / 3600` fits every budget on the path,
//!    else [`Reason::RejectedBudget`];
//! 5. every token bucket on the path holds `tokens`, else [`Reason::RejectedRate`];
//! 6. the estimated wait `queue_ahead / service_rate` is at most the deadline, else
//!    [`Reason::RejectedDeadline`];
//! 7. it fits now: the path's allocations plus the request stay within limits, non-preemptible
//!    work within guarantees, and the request fits the headroom (capacity not allocated and not
//!    held by siblings' unused guarantees) → [`Reason::Admitted`]; otherwise it is queued
//!    ([`Reason::QueuedQuota`]) unless the tenant's queue is full ([`Reason::RejectedQueueCap`]).
//!
//! An admitted request takes its tokens, adds its cost to the spend on its path and holds its
//! resources until [`Policy::release`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::engine::{Policy, Running};
use super::programs::ProgramCall;
use super::resources::{approx_le, non_negative, Resource, Resources};
use super::tree::ROOT;
use crate::error::{Error, Result};
use crate::names;

/// What admission decided, as a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reason {
    /// Runs now.
    Admitted,
    /// Valid, but no room now within quota, limit or capacity; waits in the tenant's queue.
    QueuedQuota,
    /// Can never run: larger than a limit (or, non-preemptible, than a guarantee).
    RejectedLimit,
    /// A token bucket on the tenant's path is short of tokens.
    RejectedRate,
    /// Would be queued, but the tenant's queue is full.
    RejectedQueueCap,
    /// Its estimated cost exceeds a budget on the tenant's path.
    RejectedBudget,
    /// The estimated wait exceeds the request's deadline.
    RejectedDeadline,
    /// The tenant is unknown or is not a leaf.
    RejectedUnknownTenant,
    /// The priority class is unknown.
    RejectedClass,
}

impl Reason {
    /// The stable snake-case code (`admitted`, `queued_quota`, `rejected_limit`, ...).
    pub fn code(self) -> &'static str {
        match self {
            Reason::Admitted => "admitted",
            Reason::QueuedQuota => "queued_quota",
            Reason::RejectedLimit => "rejected_limit",
            Reason::RejectedRate => "rejected_rate",
            Reason::RejectedQueueCap => "rejected_queue_cap",
            Reason::RejectedBudget => "rejected_budget",
            Reason::RejectedDeadline => "rejected_deadline",
            Reason::RejectedUnknownTenant => "rejected_unknown_tenant",
            Reason::RejectedClass => "rejected_class",
        }
    }

    /// Whether the request runs now.
    pub fn is_admitted(self) -> bool {
        self == Reason::Admitted
    }

    /// Whether the request is refused for good.
    pub fn is_rejected(self) -> bool {
        !matches!(self, Reason::Admitted | Reason::QueuedQuota)
    }

    /// The outcome in one word: `admit`, `queue` or `reject`.
    pub fn outcome(self) -> &'static str {
        if self.is_admitted() {
            "admit"
        } else if self.is_rejected() {
            "reject"
        } else {
            "queue"
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A decision with its reason code and human text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The request decided.
    pub request_id: String,
    /// The reason code.
    pub reason: Reason,
    /// Why, in words.
    pub text: String,
    /// When, seconds.
    pub at: f64,
    /// The program (workflow id) this decision ended: a rejected call aborts its program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_program: Option<String>,
}

/// A request for admission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdmissionRequest {
    /// Caller-chosen unique id (a queued id may be submitted again).
    pub id: String,
    /// Leaf tenant.
    pub tenant: String,
    /// Priority class name.
    pub class: String,
    /// Resources it holds while running.
    pub resources: Resources,
    /// GPU model, for per-model quotas and the price.
    pub gpu_model: Option<String>,
    /// Weighted tokens taken from the token buckets (see [`super::weighted_tokens`]).
    pub tokens: f64,
    /// Estimated run time, seconds, for the cost.
    pub est_duration_s: f64,
    /// Relative deadline to start, seconds; `None` for none.
    pub deadline_s: Option<f64>,
    /// Work queued ahead of it (any unit; with `service_rate` in that unit per second).
    pub queue_ahead: f64,
    /// Rate at which the queue ahead is served, per second.
    pub service_rate: f64,
    /// The call's place in an agent program, if it is one (see [`super::ProgramLedger`]).
    #[serde(default)]
    pub program: Option<ProgramCall>,
}

impl AdmissionRequest {
    /// A request for `resources` in class `default`, with no tokens, cost, deadline or queue.
    pub fn new(id: impl Into<String>, tenant: impl Into<String>, resources: Resources) -> Self {
        AdmissionRequest {
            id: id.into(),
            tenant: tenant.into(),
            class: "default".into(),
            resources,
            gpu_model: None,
            tokens: 0.0,
            est_duration_s: 0.0,
            deadline_s: None,
            queue_ahead: 0.0,
            service_rate: 0.0,
            program: None,
        }
    }

    /// Checks the fields; errors name the first bad one.
    pub fn validate(&self) -> Result<()> {
        names::check_id("id", &self.id)?;
        names::check_name("tenant", &self.tenant)?;
        names::check_name("priority_class", &self.class)?;
        self.resources.validate("resources")?;
        non_negative("tokens", self.tokens)?;
        non_negative("est_duration_s", self.est_duration_s)?;
        if let Some(d) = self.deadline_s {
            non_negative("deadline_s", d)?;
        }
        non_negative("queue_ahead", self.queue_ahead)?;
        non_negative("service_rate", self.service_rate)
    }

    /// Estimated wait: `queue_ahead / service_rate` (0 with nothing ahead).
    pub fn estimated_wait(&self) -> f64 {
        if self.queue_ahead <= 0.0 {
            0.0
        } else if self.service_rate <= 0.0 {
            f64::INFINITY
        } else {
            self.queue_ahead / self.service_rate
        }
    }
}

const ADMITTED: &str = "admitted: fits quota, limits and capacity";

type Verdict = std::result::Result<(), (Reason, String)>;

fn fail(reason: Reason, text: String) -> Verdict {
    Err((reason, text))
}

impl Policy {
    /// Decides a request at time `now`. `Err` only for malformed input (`InvalidRequest`) or an
    /// id already running (`Conflict`); every policy outcome is a [`Decision`].
    pub fn admit(&mut self, req: &AdmissionRequest, now: f64) -> Result<Decision> {
        req.validate()?;
        let now = self.tick(now)?;
        if self.running.contains_key(&req.id) {
            return Err(Error::Conflict(format!("{:?} is already running", req.id)));
        }
        if let Some(call) = &req.program {
            self.programs.check(&req.id, &req.tenant, call)?;
        }
        if self.queued.contains_key(&req.id) {
            self.unqueue(&req.id)?;
        }
        let (reason, text) = match self.decide(req, now) {
            Ok(()) => (Reason::Admitted, ADMITTED.to_owned()),
            Err(rt) => rt,
        };
        let mut d = Decision {
            request_id: req.id.clone(),
            reason,
            text,
            at: now,
            ended_program: None,
        };
        self.record(req, &d, now);
        if let Some(call) = &req.program {
            d.ended_program = self
                .programs
                .decided(&req.id, &req.tenant, call, d.reason, now);
        }
        Ok(d)
    }

    /// What [`Policy::admit`] would decide at `now`, without recording anything (no tokens
    /// taken, nothing started or queued, the clock not advanced). `Err` for malformed input
    /// (`InvalidRequest`) or an id already running (`Conflict`).
    pub fn evaluate(&self, req: &AdmissionRequest, now: f64) -> Result<Decision> {
        req.validate()?;
        if !now.is_finite() {
            return Err(Error::invalid("now", format!("must be finite, got {now}")));
        }
        if self.running.contains_key(&req.id) {
            return Err(Error::Conflict(format!("{:?} is already running", req.id)));
        }
        let now = now.max(self.clock);
        let (reason, text) = match self.decide(req, now) {
            Ok(()) => (Reason::Admitted, ADMITTED.to_owned()),
            Err(rt) => rt,
        };
        Ok(Decision {
            request_id: req.id.clone(),
            reason,
            text,
            at: now,
            ended_program: None,
        })
    }

    fn decide(&self, req: &AdmissionRequest, now: f64) -> Verdict {
        let leaf = self.admit_leaf(req)?;
        let class = self.classes.get(&req.class).ok_or_else(|| {
            (
                Reason::RejectedClass,
                format!("unknown priority class {:?}", req.class),
            )
        })?;
        let np = !class.preemptible;
        self.check_static_limits(leaf, req, np)?;
        self.check_budget(leaf, req)?;
        self.check_rate(leaf, req, now)?;
        let wait = req.estimated_wait();
        if req.deadline_s.is_some_and(|d| wait > d) {
            return fail(
                Reason::RejectedDeadline,
                format!(
                    "estimated wait {wait:.3} s exceeds the deadline {:.3} s",
                    req.deadline_s.unwrap_or(0.0)
                ),
            );
        }
        match self.fits_now(leaf, req, np) {
            Ok(()) => Ok(()),
            Err(why) => self.queue_or_reject(leaf, why),
        }
    }

    fn admit_leaf(&self, req: &AdmissionRequest) -> std::result::Result<usize, (Reason, String)> {
        match self.tree.lookup(&req.tenant) {
            Some(i) if self.tree.node(i).is_leaf() => Ok(i),
            Some(_) => Err((
                Reason::RejectedUnknownTenant,
                format!("{:?} has children; only leaves hold work", req.tenant),
            )),
            None => Err((
                Reason::RejectedUnknownTenant,
                format!("unknown tenant {:?}", req.tenant),
            )),
        }
    }

    fn check_static_limits(&self, leaf: usize, req: &AdmissionRequest, np: bool) -> Verdict {
        if let Some(r) = exceeds(&req.resources, &self.capacity) {
            return fail(
                Reason::RejectedLimit,
                format!("{r} request exceeds the cluster capacity"),
            );
        }
        for n in self.tree.ancestors(leaf).filter(|&n| n != ROOT) {
            let node = self.tree.node(n);
            let q = &node.spec.quota;
            let name = &node.spec.name;
            if let Some(r) = exceeds(&req.resources, &q.limit.as_resources()) {
                return fail(
                    Reason::RejectedLimit,
                    format!("{r} request exceeds the limit of {name:?}"),
                );
            }
            if np {
                if let Some(r) = exceeds(&req.resources, &q.guaranteed) {
                    return fail(Reason::RejectedLimit, format!("non-preemptible work runs only within guaranteed quota; {r} request exceeds the guarantee of {name:?}"));
                }
            }
            if let Some(m) = &req.gpu_model {
                if !approx_le(req.resources.get(Resource::Gpus), q.model_limit(m)) {
                    return fail(
                        Reason::RejectedLimit,
                        format!("{m} GPUs requested exceed the {m} limit of {name:?}"),
                    );
                }
            }
        }
        Ok(())
    }

    /// Estimated cost of a request: `gpus * price(model) * est_duration_s / 3600`.
    pub fn cost_of(&self, req: &AdmissionRequest) -> f64 {
        let price = req
            .gpu_model
            .as_ref()
            .and_then(|m| self.config.gpu_prices.get(m))
            .copied()
            .unwrap_or(0.0);
        req.resources.get(Resource::Gpus) * price * req.est_duration_s / 3600.0
    }

    fn check_budget(&self, leaf: usize, req: &AdmissionRequest) -> Verdict {
        let cost = self.cost_of(req);
        for n in self.tree.ancestors(leaf).filter(|&n| n != ROOT) {
            let node = self.tree.node(n);
            if let Some(b) = node.spec.budget {
                if !approx_le(node.spent + cost, b) {
                    return fail(Reason::RejectedBudget, format!("cost {cost:.4} on top of {:.4} spent exceeds the budget {b:.4} of {:?}", node.spent, node.spec.name));
                }
            }
        }
        Ok(())
    }

    fn check_rate(&self, leaf: usize, req: &AdmissionRequest, now: f64) -> Verdict {
        for n in self.tree.ancestors(leaf).filter(|&n| n != ROOT) {
            let node = self.tree.node(n);
            let Some(b) = &node.bucket else { continue };
            let wait = b.wait_for(req.tokens, now);
            if wait > 0.0 {
                return fail(Reason::RejectedRate, format!("{} weighted tokens exceed the rate limit of {:?} ({} tokens/s, burst {}); retry in {wait:.3} s", req.tokens, node.spec.name, b.rate, b.burst));
            }
        }
        Ok(())
    }

    /// Why the request cannot run now, if it cannot.
    fn fits_now(
        &self,
        leaf: usize,
        req: &AdmissionRequest,
        np: bool,
    ) -> std::result::Result<(), String> {
        let path = self.tree.path(leaf);
        let mut headroom = self.capacity.minus(self.tree.node(ROOT).alloc);
        for w in path.windows(2) {
            let (p, q) = (w[0], w[1]);
            let node = self.tree.node(q);
            let quota = &node.spec.quota;
            let after = node.alloc.plus(req.resources);
            if let Some(r) = exceeds(&after, &quota.limit.as_resources()) {
                return Err(format!(
                    "{r} would exceed the limit of {:?}",
                    node.spec.name
                ));
            }
            if np {
                if let Some(r) = exceeds(&node.alloc_np.plus(req.resources), &quota.guaranteed) {
                    return Err(format!(
                        "non-preemptible {r} would exceed the guarantee of {:?}",
                        node.spec.name
                    ));
                }
            }
            if let Some(m) = &req.gpu_model {
                let held = node.model_alloc.get(m).copied().unwrap_or(0.0);
                if !approx_le(
                    held + req.resources.get(Resource::Gpus),
                    quota.model_limit(m),
                ) {
                    return Err(format!(
                        "{m} GPUs would exceed the {m} limit of {:?}",
                        node.spec.name
                    ));
                }
            }
            headroom = self.child_headroom(p, q, headroom);
        }
        match exceeds(&req.resources, &headroom) {
            Some(r) => Err(format!("{r}: only {} free for it (capacity less allocations and idle guarantees of others)", headroom.get(r))),
            None => Ok(()),
        }
    }

    /// What `q`'s subtree may still take, given what its parent `p`'s subtree may take.
    pub(crate) fn child_headroom(
        &self,
        p: usize,
        q: usize,
        parent_headroom: Resources,
    ) -> Resources {
        let mut held = Resources::ZERO;
        for &s in &self.tree.node(p).children {
            if s != q {
                let sib = self.tree.node(s);
                held = held.plus(sib.spec.quota.guaranteed.minus(sib.alloc));
            }
        }
        let node = self.tree.node(q);
        let by_limit = node.spec.quota.limit.as_resources().minus(node.alloc);
        parent_headroom.minus(held).min(by_limit)
    }

    fn queue_or_reject(&self, leaf: usize, why: String) -> Verdict {
        let node = self.tree.node(leaf);
        if node.spec.max_queued.is_some_and(|cap| node.queued >= cap) {
            return fail(
                Reason::RejectedQueueCap,
                format!(
                    "queue of {:?} is full ({} queued); {why}",
                    node.spec.name, node.queued
                ),
            );
        }
        fail(Reason::QueuedQuota, format!("queued: {why}"))
    }

    fn record(&mut self, req: &AdmissionRequest, d: &Decision, now: f64) {
        let Some(leaf) = self.tree.lookup(&req.tenant) else {
            return;
        };
        match d.reason {
            Reason::Admitted => self.start(leaf, req, now),
            Reason::QueuedQuota => {
                self.queued.insert(req.id.clone(), leaf);
                self.tree.node_mut(leaf).queued += 1;
            }
            _ => {}
        }
        self.tree.node_mut(leaf).last = Some(d.clone());
    }

    fn start(&mut self, leaf: usize, req: &AdmissionRequest, now: f64) {
        let cost = self.cost_of(req);
        let path: Vec<usize> = self.tree.ancestors(leaf).collect();
        for n in path {
            let node = self.tree.node_mut(n);
            node.spent += cost;
            if let Some(b) = node.bucket.as_mut() {
                b.take(req.tokens, now);
            }
        }
        let r = Running {
            id: req.id.clone(),
            tenant: req.tenant.clone(),
            class: req.class.clone(),
            resources: req.resources,
            gpu_model: req.gpu_model.clone(),
            start: now,
        };
        self.account(leaf, &r, 1.0);
        self.running.insert(r.id.clone(), r);
    }
}

/// The first resource where `a` exceeds `b`.
fn exceeds(a: &Resources, b: &Resources) -> Option<Resource> {
    Resource::ALL
        .into_iter()
        .find(|&r| !approx_le(a.get(r), b.get(r)))
}
