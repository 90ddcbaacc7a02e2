//! A request as the caller submits it, and its configuration-relative checks.

use serde::{Deserialize, Serialize};

use super::config::BatchConfig;
use super::MAX_TOKENS;
use crate::error::{Error, Result};
use crate::names;

/// One generation request submitted to the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Caller-chosen unique id (the Python layer maps its own ids).
    pub id: u64,
    /// Tenant name; interned by the scheduler.
    pub tenant: String,
    /// Prompt length in tokens (1..=2^24).
    pub prompt_len: u32,
    /// Hashes of the prompt's full KV blocks, in order (at most `prompt_len / block_size`),
    /// for prefix reuse. May be shorter (or empty): only the listed blocks are shared.
    pub block_hashes: Vec<u64>,
    /// Most tokens to generate (1..=2^24); the request finishes when it has generated them.
    pub max_new_tokens: u32,
    /// Priority band, higher first.
    pub priority: i32,
    /// Arrival time in seconds (finite).
    pub arrival: f64,
    /// Absolute time-to-first-token deadline in seconds (finite), used by [`super::Policy::Deadline`].
    pub ttft_deadline: Option<f64>,
    /// Workflow (agent program) id, used by [`super::Policy::WorkflowFair`].
    pub workflow: Option<u64>,
    /// Whether this is its program's last call (`more_calls = false`): once it leaves, the
    /// scheduler forgets the program at once instead of keeping it idle.
    #[serde(default)]
    pub last_call: bool,
}

/// Progress of a live request ([`super::BatchScheduler::progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestProgress {
    /// Tokens whose KV is computed (or reused from the cache).
    pub computed: u32,
    /// Tokens generated so far.
    pub generated: u32,
    /// Known tokens: prompt plus generated.
    pub known: u32,
    /// Whether it is running (holds KV) rather than waiting.
    pub running: bool,
}

impl Request {
    /// A request with priority 0, arrival 0, no block hashes, deadline or workflow.
    pub fn new(id: u64, tenant: impl Into<String>, prompt_len: u32, max_new_tokens: u32) -> Self {
        Self {
            id,
            tenant: tenant.into(),
            prompt_len,
            block_hashes: Vec::new(),
            max_new_tokens,
            priority: 0,
            arrival: 0.0,
            ttft_deadline: None,
            workflow: None,
            last_call: false,
        }
    }

    /// Sets the priority.
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the arrival time.
    pub fn with_arrival(mut self, arrival: f64) -> Self {
        self.arrival = arrival;
        self
    }

    /// Sets the TTFT deadline.
    pub fn with_deadline(mut self, deadline: f64) -> Self {
        self.ttft_deadline = Some(deadline);
        self
    }

    /// Sets the workflow id.
    pub fn with_workflow(mut self, workflow: u64) -> Self {
        self.workflow = Some(workflow);
        self
    }

    /// Marks it as its program's last call.
    pub fn as_last_call(mut self) -> Self {
        self.last_call = true;
        self
    }

    /// Sets the prompt's block hashes.
    pub fn with_block_hashes(mut self, hashes: Vec<u64>) -> Self {
        self.block_hashes = hashes;
        self
    }

    /// Checks what does not depend on a configuration: a tenant name, lengths in
    /// `1..=MAX_TOKENS`, finite times. The error names the first bad field.
    pub fn validate(&self) -> Result<()> {
        self.check_lengths()?;
        self.check_times()
    }

    /// Checks the request against `cfg` (not against scheduler state: ids and tenants).
    pub(crate) fn check(&self, cfg: &BatchConfig) -> Result<()> {
        self.validate()?;
        self.check_fits(cfg)
    }

    fn check_lengths(&self) -> Result<()> {
        names::check_name("tenant", &self.tenant)?;
        for (field, v) in [
            ("prompt_len", self.prompt_len),
            ("max_new_tokens", self.max_new_tokens),
        ] {
            if v == 0 || v > MAX_TOKENS {
                return Err(Error::invalid(
                    field,
                    format!("must be in 1..={MAX_TOKENS}, got {v}"),
                ));
            }
        }
        Ok(())
    }

    fn check_times(&self) -> Result<()> {
        if !self.arrival.is_finite() {
            return Err(Error::invalid("arrival", "must be finite"));
        }
        if self.ttft_deadline.is_some_and(|d| !d.is_finite()) {
            return Err(Error::invalid("ttft_deadline", "must be finite"));
        }
        Ok(())
    }

    fn check_fits(&self, cfg: &BatchConfig) -> Result<()> {
        let full_blocks = self.prompt_len / cfg.block_size;
        if self.block_hashes.len() > full_blocks as usize {
            let why = format!(
                "{} hashes for {full_blocks} full prompt blocks",
                self.block_hashes.len()
            );
            return Err(Error::invalid("block_hashes", why));
        }
        let room = cfg.kv_blocks - cfg.watermark_blocks();
        if cfg.blocks_for(self.prompt_len) > room {
            return Err(Error::invalid(
                "prompt_len",
                format!("can never fit the {room} admissible KV blocks"),
            ));
        }
        let most_known = self.prompt_len + self.max_new_tokens - 1;
        if cfg.blocks_for(most_known) > room {
            let why = format!("prompt plus output can never fit the {room} admissible KV blocks");
            return Err(Error::invalid("max_new_tokens", why));
        }
        if !cfg.chunked_prefill && self.prompt_len > cfg.token_budget {
            return Err(Error::invalid(
                "prompt_len",
                "exceeds token_budget with chunked prefill off",
            ));
        }
        Ok(())
    }
}
