//! Token buckets in the weighted-token currency of the batching scheduler: a request costs
//! `w_in * prompt_tokens + w_out * output_tokens`, the same charge the scheduler's virtual
//! token counters use. Buckets refill lazily from `(level, stamp)`; no timer runs.

use serde::{Deserialize, Serialize};

/// The weighted-token cost of a request: `w_in * prompt_tokens + w_out * output_tokens`.
pub fn weighted_tokens(w_in: f64, w_out: f64, prompt_tokens: u64, output_tokens: u64) -> f64 {
    w_in * prompt_tokens as f64 + w_out * output_tokens as f64
}

/// A token bucket: `rate` weighted tokens per second up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TokenBucket {
    /// Refill rate, weighted tokens per second (> 0).
    pub rate: f64,
    /// Capacity, weighted tokens (> 0).
    pub burst: f64,
    /// Tokens at `stamp`.
    pub level: f64,
    /// Time (seconds) at which `level` holds.
    pub stamp: f64,
}

impl TokenBucket {
    /// A full bucket at time `now`.
    pub fn new(rate: f64, burst: f64, now: f64) -> Self {
        TokenBucket {
            rate,
            burst,
            level: burst,
            stamp: now,
        }
    }

    /// Tokens available at `now` (times before the stamp count as the stamp).
    pub fn available(&self, now: f64) -> f64 {
        let dt = (now - self.stamp).max(0.0);
        (self.level + dt * self.rate).min(self.burst)
    }

    /// Seconds from `now` until `cost` tokens are available (`INFINITY` above the burst).
    pub fn wait_for(&self, cost: f64, now: f64) -> f64 {
        let available = self.available(now);
        if available >= cost {
            0.0
        } else if cost > self.burst || self.rate <= 0.0 {
            f64::INFINITY
        } else {
            (cost - available) / self.rate
        }
    }

    /// Takes `cost` tokens at `now`; the caller checked [`TokenBucket::available`].
    pub fn take(&mut self, cost: f64, now: f64) {
        let now = now.max(self.stamp);
        self.level = (self.available(now) - cost).max(0.0);
        self.stamp = now;
    }

    /// Changes rate and burst, keeping the current level (clamped to the new burst).
    pub fn reconfigure(&mut self, rate: f64, burst: f64, now: f64) {
        let now = now.max(self.stamp);
        self.level = self.available(now).min(burst);
        self.stamp = now;
        self.rate = rate;
        self.burst = burst;
    }
}
