//! The requests of a simulation, as columns (one entry per request).

use crate::batching::MAX_TOKENS;
use crate::error::{Error, Result};

/// Requests as parallel columns. Request `i` has id `i` in every report.
///
/// Workflows: requests sharing a `workflow` id (>= 0) are the calls of one agent program, in
/// order of (arrival, index). Only the first call arrives at its timestamp; each later call
/// arrives when the previous one finishes plus the configured think time plus its own tool
/// time, and never before its own timestamp. A call rejected at admission aborts the rest of
/// its workflow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workload {
    /// Arrival time, seconds (finite, >= 0).
    pub arrival: Vec<f64>,
    /// Prompt tokens (1..=2^24).
    pub prompt: Vec<u32>,
    /// Output tokens to generate (1..=2^24).
    pub output: Vec<u32>,
    /// Tenant index (into the configured tenants).
    pub tenant: Vec<u32>,
    /// Priority band, higher first.
    pub priority: Vec<i32>,
    /// Workflow id, or -1 for none.
    pub workflow: Vec<i64>,
    /// Prefix block hashes of request `i`: `hashes[hash_offsets[i]..hash_offsets[i + 1]]`
    /// (empty offsets: no hashes). One hash per `hash_block_tokens` prompt tokens.
    pub hash_offsets: Vec<u64>,
    /// Flat prefix block hashes.
    pub hashes: Vec<u64>,
    /// Tool time of request `i`, seconds (finite, >= 0): from the previous call of its
    /// workflow finishing to its arrival (ignored for a first call). Empty: none.
    pub tool_time: Vec<f64>,
}

impl Workload {
    /// Number of requests.
    pub fn len(&self) -> usize {
        self.arrival.len()
    }

    /// Whether there are no requests.
    pub fn is_empty(&self) -> bool {
        self.arrival.is_empty()
    }

    /// Checks lengths and values; the error names the column and index.
    pub fn validate(&self) -> Result<()> {
        let n = self.len();
        for (name, len) in [
            ("prompt", self.prompt.len()),
            ("output", self.output.len()),
            ("tenant", self.tenant.len()),
            ("priority", self.priority.len()),
            ("workflow", self.workflow.len()),
        ] {
            if len != n {
                return Err(Error::invalid(
                    name,
                    format!("has {len} entries, expected {n}"),
                ));
            }
        }
        for (i, &a) in self.arrival.iter().enumerate() {
            if !a.is_finite() || a < 0.0 {
                return Err(Error::invalid(
                    format!("arrival[{i}]"),
                    format!("must be finite and >= 0, got {a}"),
                ));
            }
        }
        for (name, col) in [("prompt", &self.prompt), ("output", &self.output)] {
            if let Some(i) = col.iter().position(|&v| v == 0 || v > MAX_TOKENS) {
                let why = format!("must be in 1..={MAX_TOKENS}, got {}", col[i]);
                return Err(Error::invalid(format!("{name}[{i}]"), why));
            }
        }
        self.validate_tool_time()?;
        self.validate_hashes()
    }

    fn validate_tool_time(&self) -> Result<()> {
        let t = &self.tool_time;
        if !t.is_empty() && t.len() != self.len() {
            let why = format!("has {} entries, expected {} or none", t.len(), self.len());
            return Err(Error::invalid("tool_time", why));
        }
        if let Some(i) = t.iter().position(|v| !v.is_finite() || *v < 0.0) {
            let why = format!("must be finite and >= 0, got {}", t[i]);
            return Err(Error::invalid(format!("tool_time[{i}]"), why));
        }
        Ok(())
    }

    /// The tool time before request `i` (0 without the column).
    pub fn tool_time_of(&self, i: usize) -> f64 {
        self.tool_time.get(i).copied().unwrap_or(0.0)
    }

    fn validate_hashes(&self) -> Result<()> {
        if self.hash_offsets.is_empty() {
            return Ok(());
        }
        let off = &self.hash_offsets;
        if off.len() != self.len() + 1
            || off[0] != 0
            || off[off.len() - 1] != self.hashes.len() as u64
        {
            return Err(Error::invalid(
                "hash_offsets",
                "must have len(requests) + 1 entries from 0 to len(hashes)",
            ));
        }
        if let Some(i) = off.windows(2).position(|w| w[1] < w[0]) {
            return Err(Error::invalid(
                format!("hash_offsets[{}]", i + 1),
                "must not decrease",
            ));
        }
        Ok(())
    }

    /// The prefix block hashes of request `i`.
    pub fn hashes_of(&self, i: usize) -> &[u64] {
        if self.hash_offsets.is_empty() {
            return &[];
        }
        &self.hashes[self.hash_offsets[i] as usize..self.hash_offsets[i + 1] as usize]
    }

    /// The largest tenant index plus one.
    pub fn tenant_count(&self) -> usize {
        self.tenant.iter().max().map_or(0, |&t| t as usize + 1)
    }
}
