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

/// One request inside the scheduler (the slab entry). While it runs, its per-step fields
/// (computed and generated tokens, block count) live in its [`Run`] entry instead, which is
/// authoritative until the request stops running (see `BatchScheduler::stop_running`).
#[derive(Debug, Clone)]
pub(crate) struct Seq {
    pub id: u64,
    /// Admission stamp of its current [`Run`] entry (valid while running).
    pub stamp: u64,
    pub prompt_len: u32,
    /// Tokens generated (up to date while waiting; see [`Run::known`] while running).
    pub generated: u32,
    /// Tokens computed (up to date while waiting; see [`Run::computed`] while running).
    pub computed: u32,
    pub max_new: u32,
    pub tenant: u32,
    /// Workflow account, or `NIL` outside workflow-fair mode.
    pub workflow: u32,
    /// Ordering account: tenant (fair), workflow account (workflow fair) or 0.
    pub account: u32,
    pub band: i32,
    pub state: State,
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
    /// Under `program_las`: its key when it was last keyed (its program's attained service,
    /// less the cache discount; see `programs.rs`).
    pub rank: f64,
    /// Under `program_las`: when it ages, i.e. ranks as a program with no service (see
    /// `programs.rs`).
    pub aged_at: f64,
    /// Under `program_las`: when it becomes starved and goes before everything.
    pub starve_at: f64,
    /// Its program's last call: the program is forgotten when it leaves.
    pub last_call: bool,
}

/// The per-step state of one running request, kept densely in running (admission) order so
/// that a step walks one contiguous array instead of the request slab. A removed entry is a
/// hole (`slot == NIL`) until the array is compacted at the start of a step. Its admission
/// stamp is at the same position of a parallel array (`BatchScheduler::run_stamps`), which
/// keeps the walked entries at 40 bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub id: u64,
    /// Slab slot, or `NIL` for a hole.
    pub slot: u32,
    pub computed: u32,
    /// Known tokens: prompt plus generated.
    pub known: u32,
    /// Known tokens once it has generated `max_new_tokens`.
    pub max_known: u32,
    /// KV blocks held (length of the slab entry's block list).
    pub nblocks: u32,
    /// Computed tokens at which its next prompt block can be registered (`NIL`: none left).
    pub reg_at: u32,
    pub tenant: u32,
    pub workflow: u32,
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
            stamp: 0,
            rank: 0.0,
            aged_at: f64::INFINITY,
            starve_at: f64::INFINITY,
            last_call: req.last_call,
        }
    }

    /// Known tokens: prompt plus generated so far.
    pub fn known(&self) -> u32 {
        self.prompt_len + self.generated
    }

    /// Computed tokens at which the next prompt block can be registered (`NIL`: none left).
    pub fn reg_at(&self, block_size: u32) -> u32 {
        if (self.registered as usize) < self.hashes.len() {
            (self.registered + 1) * block_size
        } else {
            NIL
        }
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
