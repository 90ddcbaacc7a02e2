//! Each replica's waiting requests per tenant, as reported, and the fleet's totals: the
//! queue-share term's inputs.
//!
//! A replica's `fair` scheduler can only serve the tenants queued on it. A tenant whose waiting
//! requests sit on few replicas (where its applications' prefixes are cached) is served by those
//! replicas alone while the others serve the rest, however far behind it falls fleet-wide. The
//! queue-share excess of a tenant on a replica is how far its share of the replica's waiting
//! requests exceeds its share of the fleet's: a tenant concentrated on a replica sees it as
//! busier, so its next requests go where it is under-represented, and every backlogged tenant
//! stays queued on every replica in proportion.

/// Per slot, `(tenant account, waiting requests)` sorted by account, and the fleet's sums.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueueShares {
    slots: Vec<Vec<(u32, u32)>>,
    /// Per slot, its waiting requests of all tenants (the sum of its list).
    totals: Vec<u64>,
    /// Per account, its waiting requests on every slot.
    fleet: Vec<u64>,
    fleet_total: u64,
}

impl QueueShares {
    /// One more slot (at the end), with nothing waiting.
    pub fn push_slot(&mut self) {
        self.slots.push(Vec::new());
        self.totals.push(0);
    }

    /// Drops slot `s`'s figures and moves the last slot into it (as `Vec::swap_remove`).
    pub fn swap_remove(&mut self, s: usize) {
        self.set(s, Vec::new());
        self.slots.swap_remove(s);
        self.totals.swap_remove(s);
    }

    /// Replaces slot `s`'s waiting requests per account (any order; an account listed twice
    /// counts once, with its last figure).
    pub fn set(&mut self, s: usize, mut waiting: Vec<(u32, u32)>) {
        waiting.reverse();
        waiting.sort_by_key(|e| e.0);
        waiting.dedup_by_key(|e| e.0);
        waiting.retain(|e| e.1 > 0);
        for &(a, n) in &self.slots[s] {
            self.fleet[a as usize] -= u64::from(n);
            self.fleet_total -= u64::from(n);
        }
        for &(a, n) in &waiting {
            let a = a as usize;
            if self.fleet.len() <= a {
                self.fleet.resize(a + 1, 0);
            }
            self.fleet[a] += u64::from(n);
            self.fleet_total += u64::from(n);
        }
        self.totals[s] = waiting.iter().map(|e| u64::from(e.1)).sum();
        self.slots[s] = waiting;
    }

    /// Slot `s`'s waiting requests per account, sorted by account.
    #[cfg(test)]
    pub fn of(&self, s: usize) -> &[(u32, u32)] {
        &self.slots[s]
    }

    /// How far `account`'s share of slot `s`'s waiting requests exceeds its share of the
    /// fleet's (>= 0; 0 where nothing waits).
    #[inline]
    pub fn excess(&self, s: usize, account: u32) -> f64 {
        let total = self.totals[s];
        if total == 0 {
            return 0.0;
        }
        let list = &self.slots[s];
        let Ok(at) = list.binary_search_by_key(&account, |e| e.0) else {
            return 0.0;
        };
        let fleet = self.fleet[account as usize] as f64 / self.fleet_total as f64;
        (f64::from(list[at].1) / total as f64 - fleet).max(0.0)
    }

    /// Whether any slot reports a waiting request (the term reads nothing otherwise).
    pub fn any(&self) -> bool {
        self.fleet_total > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_concentrated_on_a_replica_has_an_excess_there_only() {
        let mut q = QueueShares::default();
        q.push_slot();
        q.push_slot();
        // Account 0 waits 3 on slot 0 and 1 on slot 1; account 1 waits 0 and 4: fleet shares
        // 1/2 each; on slot 0, account 0 has 3/3, on slot 1 1/5.
        q.set(0, vec![(0, 3)]);
        q.set(1, vec![(1, 4), (0, 1)]);
        assert_eq!(q.excess(0, 0), 0.5);
        assert_eq!(q.excess(1, 0), 0.0);
        assert!((q.excess(1, 1) - 0.3).abs() < 1e-12);
        assert_eq!(q.excess(0, 1), 0.0, "not waiting there");
        // Replacing a slot's figures replaces its part of the fleet's.
        q.set(0, vec![(0, 1), (0, 3)]);
        assert_eq!(
            q.of(0),
            &[(0, 3)],
            "the last figure of an account listed twice"
        );
        q.swap_remove(0);
        assert_eq!(q.of(0), &[(0, 1), (1, 4)]);
        assert!((q.excess(0, 1) - 0.0).abs() < 1e-12, "4/5 against 4/5");
        q.set(0, Vec::new());
        assert!(!q.any());
        assert_eq!(q.excess(0, 0), 0.0);
    }
}
