//! What the simulator records about each request while it runs.

use serde::Serialize;

/// Why a request was not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reject {
    /// The replica it was routed to had `max_queue` requests waiting.
    QueueFull,
    /// It can never fit a replica (prompt or prompt plus output above the KV pool, or the
    /// prompt above the token budget with chunked prefill off).
    TooLong,
    /// An earlier call of its workflow was rejected.
    WorkflowAborted,
    /// Still queued when the event loop ran dry (never expected; reported, not hidden).
    Unserved,
}

impl Reject {
    /// The reason's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Reject::QueueFull => "queue_full",
            Reject::TooLong => "too_long",
            Reject::WorkflowAborted => "workflow_aborted",
            Reject::Unserved => "unserved",
        }
    }
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Not arrived yet.
    Pending,
    /// Inside a replica's scheduler.
    Queued,
    /// Generated all its tokens.
    Finished,
    /// Refused at admission.
    Rejected(Reject),
}

/// The simulator's view of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReqState {
    /// Effective arrival (a workflow's later calls arrive after the previous one finishes).
    pub arrival: f64,
    /// Time of the first output token (NaN until then).
    pub first: f64,
    /// Time of the last output token (NaN until then).
    pub finish: f64,
    /// Tokens whose KV is computed (mirrors the scheduler's count while running).
    pub computed: u32,
    /// Output tokens generated.
    pub generated: u32,
    /// Times it was preempted.
    pub preemptions: u32,
    /// Replica it was routed to.
    pub replica: u32,
    /// Seconds spent queued without KV (before admission and after preemptions).
    pub waited: f64,
    /// Prompt tokens found in the prefix cache at its first admission.
    pub cached_at_admission: u32,
    /// When it last entered the queue.
    pub queued_at: f64,
    /// Whether it holds KV (admitted and not preempted).
    pub running: bool,
    pub status: Status,
}

impl Default for ReqState {
    fn default() -> Self {
        Self {
            arrival: f64::NAN,
            first: f64::NAN,
            finish: f64::NAN,
            computed: 0,
            generated: 0,
            preemptions: 0,
            replica: u32::MAX,
            waited: 0.0,
            cached_at_admission: 0,
            queued_at: f64::NAN,
            running: false,
            status: Status::Pending,
        }
    }
}
