//! Routing arrivals across engine replicas.

use super::config::Routing;
use super::replica::Replica;

/// A routing policy with its state (the round-robin cursor).
#[derive(Debug, Clone)]
pub(crate) struct Router {
    kind: Routing,
    slack: usize,
    next: usize,
}

/// SplitMix64's finalizer: spreads a key over the replicas.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Router {
    pub fn new(kind: Routing, slack: u32) -> Self {
        Self {
            kind,
            slack: slack as usize,
            next: 0,
        }
    }

    /// The replica for a request whose prefix key (first block hash, else workflow id) is
    /// `key`.
    pub fn route(&mut self, replicas: &[Replica], key: Option<u64>) -> usize {
        match (self.kind, key) {
            (Routing::RoundRobin, _) => {
                let r = self.next % replicas.len();
                self.next = self.next.wrapping_add(1);
                r
            }
            (Routing::LeastLoaded, _) | (Routing::PrefixAware, None) => least_loaded(replicas),
            (Routing::PrefixAware, Some(k)) => {
                let home = (mix(k) % replicas.len() as u64) as usize;
                let best = least_loaded(replicas);
                let (h, b) = (
                    replicas[home].sched.num_waiting(),
                    replicas[best].sched.num_waiting(),
                );
                if h > b + self.slack {
                    best
                } else {
                    home
                }
            }
        }
    }
}

/// Fewest waiting requests, then least KV in use, then lowest index.
fn least_loaded(replicas: &[Replica]) -> usize {
    let mut best = 0;
    let mut key = (usize::MAX, u32::MAX);
    for (i, r) in replicas.iter().enumerate() {
        let k = (r.sched.num_waiting(), r.sched.kv_used_blocks());
        if k < key {
            key = k;
            best = i;
        }
    }
    best
}
