//! A plain snapshot of the scheduler's state and fairness.

use serde::{Deserialize, Serialize};

use super::scheduler::BatchScheduler;

/// Service and counter of one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantMetrics {
    /// Tenant name.
    pub tenant: String,
    /// Tenant weight.
    pub weight: f64,
    /// Weighted tokens charged: `w_in * input_tokens + w_out * output_tokens`.
    pub service: f64,
    /// `service / weight`.
    pub normalized_service: f64,
    /// Prefill tokens charged (prompt tokens not covered by the prefix cache at admission).
    pub input_tokens: u64,
    /// Tokens generated.
    pub output_tokens: u64,
    /// Virtual token counter (normalized service plus backlog lifts).
    pub counter: f64,
    /// Waiting requests.
    pub waiting: u32,
    /// Whether it has waiting requests.
    pub backlogged: bool,
}

/// Snapshot of the scheduler ([`BatchScheduler::metrics`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchMetrics {
    /// Running requests.
    pub running: usize,
    /// Waiting requests (new and preempted).
    pub waiting: usize,
    /// KV blocks in the pool.
    pub kv_total_blocks: u32,
    /// Blocks in use (reference count > 0).
    pub kv_used_blocks: u32,
    /// Free blocks holding no hash.
    pub kv_free_blocks: u32,
    /// Free blocks still holding a hash (prefix cache, evictable).
    pub kv_cached_blocks: u32,
    /// `kv_used_blocks / kv_total_blocks`.
    pub kv_usage: f64,
    /// Preemptions so far.
    pub total_preemptions: u64,
    /// Steps scheduled so far.
    pub steps: u64,
    /// Requests admitted at least once.
    pub admitted_total: u64,
    /// Requests finished.
    pub finished_total: u64,
    /// Mean queue time (arrival to first admission) over admitted requests.
    pub mean_queue_time: f64,
    /// Largest queue time seen.
    pub max_queue_time: f64,
    /// Largest difference of normalized service between backlogged tenants.
    pub max_service_diff: f64,
    /// Mean pairwise difference of normalized service between backlogged tenants.
    pub mean_service_diff: f64,
    /// Per tenant, in interning order (declared tenants first, by name).
    pub tenants: Vec<TenantMetrics>,
}

impl BatchScheduler {
    /// KV blocks held by requests (shared prefix blocks count once), without building metrics.
    pub fn kv_used_blocks(&self) -> u32 {
        self.pool.used()
    }

    /// A snapshot of the scheduler's metrics.
    pub fn metrics(&self) -> BatchMetrics {
        let tenants: Vec<TenantMetrics> = (0..self.tenant_names.len() as u32)
            .map(|t| self.tenant_metrics(t))
            .collect();
        let mut backlogged: Vec<f64> = tenants
            .iter()
            .filter(|t| t.backlogged)
            .map(|t| t.normalized_service)
            .collect();
        backlogged.sort_by(f64::total_cmp);
        let (max_service_diff, mean_service_diff) = service_spread(&backlogged);
        let total = self.pool.total();
        BatchMetrics {
            running: self.n_running,
            waiting: self.waiting.len(),
            kv_total_blocks: total,
            kv_used_blocks: self.pool.used(),
            kv_free_blocks: self.pool.free_uncached(),
            kv_cached_blocks: self.pool.cached_free(),
            kv_usage: f64::from(self.pool.used()) / f64::from(total),
            total_preemptions: self.preemptions,
            steps: self.step,
            admitted_total: self.admitted_total,
            finished_total: self.finished_total,
            mean_queue_time: self.queue_time_sum / (self.admitted_total.max(1) as f64),
            max_queue_time: self.queue_time_max,
            max_service_diff,
            mean_service_diff,
            tenants,
        }
    }

    /// Same as [`BatchScheduler::metrics`].
    pub fn snapshot_metrics(&self) -> BatchMetrics {
        self.metrics()
    }

    fn tenant_metrics(&self, t: u32) -> TenantMetrics {
        let stats = &self.tenant_stats[t as usize];
        let weight = self.tenants.weight(t);
        let waiting = self.tenants.waiting(t);
        TenantMetrics {
            tenant: self.tenant_names[t as usize].clone(),
            weight,
            service: stats.service,
            normalized_service: stats.service / weight,
            input_tokens: stats.input_tokens,
            output_tokens: stats.output_tokens,
            counter: self.tenants.counter(t),
            waiting,
            backlogged: waiting > 0,
        }
    }
}

/// Max and mean pairwise difference of sorted values (0 for fewer than two).
fn service_spread(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len();
    if n < 2 {
        return (0.0, 0.0);
    }
    let sum: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, v)| v * (2.0 * i as f64 - (n as f64 - 1.0)))
        .sum();
    let pairs = (n * (n - 1) / 2) as f64;
    (sorted[n - 1] - sorted[0], sum / pairs)
}

#[cfg(test)]
mod tests {
    use super::service_spread;

    #[test]
    fn spread_of_three() {
        let (max, mean) = service_spread(&[0.0, 1.0, 3.0]);
        assert_eq!(max, 3.0);
        assert!((mean - 2.0).abs() < 1e-12);
    }
}
