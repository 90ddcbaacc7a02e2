//! Agent programs at admission: a call admitted with a [`ProgramCall`] belongs to a program
//! (workflow). The ledger checks that a program's calls come in order, one at a time, from one
//! tenant, and measures each program as the simulator does: completion from its first call's
//! first admission attempt to its last call's release, split into waiting (a call's first
//! attempt to its admission), running (admission to release) and tool time (a call's release
//! to the next call's first attempt). A program completes when a call is released with no
//! more calls to follow; a rejected or cancelled call aborts it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::admission::Reason;
use crate::error::{Error, Result};
use crate::names;

/// A call's place in its program, as the caller marks it at admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramCall {
    /// The program's (workflow's) id.
    pub workflow: String,
    /// 0 for the program's first call, then 1, 2, ... in order.
    pub call_index: u32,
}

/// Upper bounds, seconds, of the completion-time buckets (a last bucket holds the rest).
pub const COMPLETION_BUCKETS_S: [f64; 14] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// One tenant's programs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProgramFigures {
    pub tenant: String,
    /// Programs with a call admitted or queued and not yet completed or aborted.
    pub active: u64,
    pub completed: u64,
    pub aborted: u64,
    /// Calls of completed programs.
    pub calls: u64,
    /// Sums over completed programs, seconds.
    pub completion_s_sum: f64,
    pub waiting_s_sum: f64,
    pub running_s_sum: f64,
    pub tool_s_sum: f64,
    /// Completed programs per bucket of [`COMPLETION_BUCKETS_S`] (one more for the rest).
    pub completion_buckets: Vec<u64>,
}

impl ProgramFigures {
    fn new(tenant: &str) -> Self {
        Self {
            tenant: tenant.to_string(),
            completion_buckets: vec![0; COMPLETION_BUCKETS_S.len() + 1],
            ..Self::default()
        }
    }

    /// The upper bound of the bucket holding quantile `q` of completion (`INFINITY` in the
    /// last bucket; 0 with no completed program).
    pub fn completion_quantile(&self, q: f64) -> f64 {
        let rank = (q * self.completed as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.completion_buckets.iter().enumerate() {
            seen += n;
            if self.completed > 0 && seen >= rank {
                return COMPLETION_BUCKETS_S
                    .get(i)
                    .copied()
                    .unwrap_or(f64::INFINITY);
            }
        }
        0.0
    }
}

/// The call of a program in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Call {
    request_id: String,
    arrived: f64,
    admitted: Option<f64>,
}

/// A program with calls to come.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Active {
    tenant: String,
    start: f64,
    /// Calls released so far.
    calls: u32,
    waiting: f64,
    running: f64,
    tool: f64,
    last_release: f64,
    call: Option<Call>,
}

/// Programs in flight and each tenant's figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProgramLedger {
    active: BTreeMap<String, Active>,
    /// Request id of a program's call in flight -> the program.
    by_request: BTreeMap<String, String>,
    figures: BTreeMap<String, ProgramFigures>,
}

impl ProgramLedger {
    /// Checks that request `id` of `tenant` may be call `call` now: a program starts at call
    /// 0, takes its calls in order, one at a time (a queued call may be submitted again), and
    /// stays with one tenant. Errors name the field (`program.workflow_id`, `program.call_index`).
    pub fn check(&self, id: &str, tenant: &str, call: &ProgramCall) -> Result<()> {
        names::check_id("program.workflow_id", &call.workflow)?;
        let Some(p) = self.active.get(&call.workflow) else {
            if call.call_index == 0 {
                return Ok(());
            }
            let why = format!(
                "program {:?} has no call in flight; a program starts at call 0",
                call.workflow
            );
            return Err(Error::invalid("program.call_index", why));
        };
        if p.tenant != tenant {
            let why = format!("program {:?} belongs to another tenant", call.workflow);
            return Err(Error::invalid("program.workflow_id", why));
        }
        match &p.call {
            Some(c) if c.request_id == id && call.call_index == p.calls => Ok(()),
            Some(c) => Err(Error::invalid(
                "program.call_index",
                format!("call {} ({:?}) has not finished", p.calls, c.request_id),
            )),
            None if call.call_index == p.calls => Ok(()),
            None => Err(Error::invalid(
                "program.call_index",
                format!("expected call {}, got {}", p.calls, call.call_index),
            )),
        }
    }

    /// Records the admission decision `reason` at `now` for a call that passed [`Self::check`];
    /// returns the program it aborted (a rejected call's), if any.
    pub fn decided(
        &mut self,
        id: &str,
        tenant: &str,
        call: &ProgramCall,
        reason: Reason,
        now: f64,
    ) -> Option<String> {
        let p = self
            .active
            .entry(call.workflow.clone())
            .or_insert_with(|| Active::new(tenant, now));
        if p.call.is_none() {
            p.tool += if p.calls > 0 {
                now - p.last_release
            } else {
                0.0
            };
            p.call = Some(Call {
                request_id: id.to_string(),
                arrived: now,
                admitted: None,
            });
            self.by_request
                .insert(id.to_string(), call.workflow.clone());
        }
        match reason {
            Reason::Admitted => p.admit(now),
            Reason::QueuedQuota => {}
            _ => return self.abort(id),
        }
        None
    }

    /// Records the release of request `id` at `now`; with no `more_calls` its program
    /// completes. Returns the program it completed, if any.
    pub fn released(&mut self, id: &str, now: f64, more_calls: bool) -> Option<String> {
        let wf = self.by_request.remove(id)?;
        let p = self
            .active
            .get_mut(&wf)
            .expect("a call's program is active");
        if let Some(admitted) = p.call.take().and_then(|c| c.admitted) {
            p.running += now - admitted;
        }
        p.calls += 1;
        p.last_release = now;
        if more_calls {
            return None;
        }
        let p = self.active.remove(&wf).expect("active");
        self.tenant_mut(&p.tenant).complete(&p, now);
        Some(wf)
    }

    /// Aborts the program of request `id` (rejected or cancelled), if it has one; returns it.
    pub fn abort(&mut self, id: &str) -> Option<String> {
        let wf = self.by_request.remove(id)?;
        let p = self.active.remove(&wf)?;
        self.tenant_mut(&p.tenant).aborted += 1;
        Some(wf)
    }

    /// Checks a restored ledger: finite times, and every call in flight indexed by its
    /// request id (errors name `programs`).
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::invalid("programs", why));
        for (wf, p) in &self.active {
            let times = [p.start, p.waiting, p.running, p.tool, p.last_release];
            if times.iter().any(|t| !t.is_finite()) {
                return bad(format!("program {wf:?} has a time that is not finite"));
            }
            if let Some(c) = &p.call {
                if self.by_request.get(&c.request_id) != Some(wf) {
                    return bad(format!("call {:?} of {wf:?} is not indexed", c.request_id));
                }
            }
        }
        if self
            .by_request
            .values()
            .any(|wf| !self.active.contains_key(wf))
        {
            return bad("a call belongs to no program in flight".into());
        }
        Ok(())
    }

    fn tenant_mut(&mut self, tenant: &str) -> &mut ProgramFigures {
        self.figures
            .entry(tenant.to_string())
            .or_insert_with(|| ProgramFigures::new(tenant))
    }

    /// Every tenant's figures that has had a program, in name order.
    pub fn figures(&self) -> Vec<ProgramFigures> {
        let mut out = self.figures.clone();
        for p in self.active.values() {
            out.entry(p.tenant.clone())
                .or_insert_with(|| ProgramFigures::new(&p.tenant))
                .active += 1;
        }
        out.into_values().collect()
    }
}

impl Active {
    fn new(tenant: &str, now: f64) -> Self {
        Self {
            tenant: tenant.to_string(),
            start: now,
            calls: 0,
            waiting: 0.0,
            running: 0.0,
            tool: 0.0,
            last_release: now,
            call: None,
        }
    }

    fn admit(&mut self, now: f64) {
        if let Some(c) = self.call.as_mut().filter(|c| c.admitted.is_none()) {
            c.admitted = Some(now);
            self.waiting += now - c.arrived;
        }
    }
}

impl ProgramFigures {
    fn complete(&mut self, p: &Active, now: f64) {
        let completion = now - p.start;
        self.completed += 1;
        self.calls += u64::from(p.calls);
        self.completion_s_sum += completion;
        self.waiting_s_sum += p.waiting;
        self.running_s_sum += p.running;
        self.tool_s_sum += p.tool;
        let bucket = COMPLETION_BUCKETS_S
            .iter()
            .position(|&b| completion <= b)
            .unwrap_or(COMPLETION_BUCKETS_S.len());
        self.completion_buckets[bucket] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(wf: &str, k: u32) -> ProgramCall {
        ProgramCall {
            workflow: wf.into(),
            call_index: k,
        }
    }

    #[test]
    fn completion_splits_into_waiting_running_and_tool_time() {
        let mut l = ProgramLedger::default();
        l.decided("a", "t", &call("w", 0), Reason::QueuedQuota, 0.0);
        l.decided("a", "t", &call("w", 0), Reason::Admitted, 1.0);
        l.released("a", 3.0, true);
        assert!(l.check("b", "t", &call("w", 2)).is_err());
        l.decided("b", "t", &call("w", 1), Reason::Admitted, 7.0);
        l.released("b", 8.0, false);
        let f = &l.figures()[0];
        assert_eq!((f.completed, f.calls, f.active), (1, 2, 0));
        assert_eq!((f.completion_s_sum, f.waiting_s_sum), (8.0, 1.0));
        assert_eq!((f.running_s_sum, f.tool_s_sum), (3.0, 4.0));
        assert_eq!(f.completion_quantile(0.5), 10.0);
    }
}
