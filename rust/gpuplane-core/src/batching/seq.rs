//! The scheduler's per-request state.

use super::queue::{OrdF64, QKey};
use super::request::Request;

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// In the waiting queue (new or preempted).
    Waiting,
    /// Admitted: holds KV blocks.
    Running,
}

/// Marker for "no index".
pub(crate) const NIL: u32 = u32::MAX;

/// One request inside the scheduler. Fields touched on every step come first and the struct
/// is cache-line aligned, so a step touches one line per request.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct Seq {
    pub id: u64,
    /// Step in which it was last scheduled.
    pub sched_step: u64,
    /// Last `update` call that saw it (duplicate detection).
    pub seen_epoch: u32,
    pub prompt_len: u32,
    pub generated: u32,
    pub computed: u32,
    pub max_new: u32,
    /// Index of its entry in the plan being built, or `NIL`.
    pub plan_pos: u32,
    pub tenant: u32,
    /// Workflow account, or `NIL` outside workflow-fair mode.
    pub workflow: u32,
    /// Ordering account: tenant (fair), workflow account (workflow fair) or 0.
    pub account: u32,
    pub band: i32,
    pub state: State,
    // Second cache line: touched at admission, preemption, block growth and finish.
    pub blocks: Vec<u32>,
    pub hashes: Vec<u64>,
    /// Prompt blocks already registered in (or taken from) the prefix cache.
    pub registered: u32,
    /// Blocks needed when it was queued (key in the need index).
    pub need: u32,
    pub arrival: f64,
    pub deadline: Option<f64>,
    /// Time from arrival to first admission.
    pub queue_time: Option<f64>,
}

impl Seq {
    /// A waiting request built from `req`.
    pub fn new(req: Request, tenant: u32, account: u32, workflow: u32, band: i32) -> Self {
        Self {
            id: req.id,
            tenant,
            account,
            workflow,
            band,
            prompt_len: req.prompt_len,
            hashes: req.block_hashes,
            max_new: req.max_new_tokens,
            arrival: req.arrival,
            deadline: req.ttft_deadline,
            generated: 0,
            computed: 0,
            blocks: Vec::new(),
            registered: 0,
            state: State::Waiting,
            need: 0,
            queue_time: None,
            plan_pos: NIL,
            sched_step: 0,
            seen_epoch: 0,
        }
    }

    /// Known tokens: prompt plus generated so far.
    pub fn known(&self) -> u32 {
        self.prompt_len + self.generated
    }

    /// Known tokens not computed yet.
    pub fn outstanding(&self) -> u32 {
        self.known() - self.computed
    }

    /// FCFS key: arrival, then id.
    pub fn fcfs_key(&self, slot: u32) -> QKey {
        QKey::new(OrdF64(self.arrival), self.arrival, self.id, slot)
    }

    /// Earliest-deadline key: deadline (none last), then arrival, then id.
    pub fn deadline_key(&self, slot: u32) -> QKey {
        let primary = self.deadline.unwrap_or(f64::INFINITY);
        QKey::new(OrdF64(primary), self.arrival, self.id, slot)
    }
}
