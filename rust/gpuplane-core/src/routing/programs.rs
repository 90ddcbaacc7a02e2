//! Where each agent program's last call was routed, so that its next call can go back there.
//!
//! A program's calls share a growing context: the replica that served its last call likely
//! still holds that call's prompt blocks in its prefix cache. The router remembers, per
//! workflow id, that replica and the call's prompt blocks, and scores the remembered replica
//! for the program's next call with a `workflow` term: `workflow_weight x` the blocks of the
//! previous call (at most this prompt's) not already counted by the prefix term. So, like the
//! prefix term, it is worth at most the prompt's blocks of load, and load still wins beyond.
//!
//! Bounded: at most [`MAX_PROGRAM_PLACES`] programs are remembered, the least recently routed
//! forgotten beyond, and at most [`MAX_TENANT_PROGRAM_PLACES`] of one tenant, its own least
//! recently routed forgotten beyond (so a tenant routing ever new program ids pushes out its
//! own programs, and others' only once all tenants together hold more than the difference);
//! [`super::Router::end_program`] forgets one at once. A forgotten program's next call is
//! routed as a new one.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

/// Programs whose last call's replica the router remembers, at most.
pub const MAX_PROGRAM_PLACES: usize = 65_536;

/// Programs of one tenant the router remembers, at most.
pub const MAX_TENANT_PROGRAM_PLACES: usize = MAX_PROGRAM_PLACES / 4;

/// A program's last call: its replica and prompt blocks, and when it was routed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    tenant: String,
    replica: String,
    blocks: u32,
    stamp: u64,
}

/// The replica of each remembered program's last call, least recently routed first.
#[derive(Debug, Clone)]
pub(crate) struct ProgramPlaces {
    by_workflow: FxHashMap<u64, Place>,
    by_stamp: BTreeMap<u64, u64>,
    /// Each tenant's programs by stamp (a tenant with none has no entry).
    by_tenant: FxHashMap<String, BTreeMap<u64, u64>>,
    next: u64,
    cap: usize,
    tenant_cap: usize,
}

impl Default for ProgramPlaces {
    fn default() -> Self {
        Self::with_caps(MAX_PROGRAM_PLACES, MAX_TENANT_PROGRAM_PLACES)
    }
}

impl ProgramPlaces {
    /// Remembers at most `cap` programs, at most `tenant_cap` of one tenant (each at least 1).
    pub fn with_caps(cap: usize, tenant_cap: usize) -> Self {
        Self {
            by_workflow: FxHashMap::default(),
            by_stamp: BTreeMap::new(),
            by_tenant: FxHashMap::default(),
            next: 0,
            cap: cap.max(1),
            tenant_cap: tenant_cap.max(1),
        }
    }

    /// The replica and prompt blocks of program `workflow`'s last call, if remembered.
    pub fn get(&self, workflow: u64) -> Option<(&str, u32)> {
        let p = self.by_workflow.get(&workflow)?;
        Some((p.replica.as_str(), p.blocks))
    }

    /// Program `workflow` of `tenant`: its call of `blocks` prompt blocks went to `replica`.
    pub fn note(&mut self, tenant: &str, workflow: u64, replica: &str, blocks: u32) {
        self.forget(workflow);
        let stamp = self.next;
        self.next += 1;
        let place = Place {
            tenant: tenant.to_string(),
            replica: replica.to_string(),
            blocks,
            stamp,
        };
        self.by_workflow.insert(workflow, place);
        self.by_stamp.insert(stamp, workflow);
        let own = self.by_tenant.entry(tenant.to_string()).or_default();
        own.insert(stamp, workflow);
        if own.len() > self.tenant_cap {
            let (_, oldest) = own.pop_first().expect("over its cap");
            self.forget(oldest);
        }
        while self.by_workflow.len() > self.cap {
            let (_, oldest) = self.by_stamp.pop_first().expect("as many stamps as places");
            self.forget(oldest);
        }
    }

    /// Forgets program `workflow` (no-op if not remembered).
    pub fn forget(&mut self, workflow: u64) {
        let Some(p) = self.by_workflow.remove(&workflow) else {
            return;
        };
        self.by_stamp.remove(&p.stamp);
        if let Some(own) = self.by_tenant.get_mut(&p.tenant) {
            own.remove(&p.stamp);
            if own.is_empty() {
                self.by_tenant.remove(&p.tenant);
            }
        }
    }

    /// Programs remembered.
    pub fn len(&self) -> usize {
        self.by_workflow.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Note (`Some(replica)`) or forget (`None`) a program of tenant `t`.
    fn op() -> impl Strategy<Value = (u8, u64, Option<u8>)> {
        (0u8..3, 0u64..40, proptest::option::of(0u8..3))
    }

    proptest! {
        /// Whatever the programs' order of routes and ends: at most `cap` are remembered and
        /// at most `tenant_cap` of one tenant, the last noted always is (as noted), a
        /// forgotten one is not, and the indexes agree.
        #[test]
        fn places_are_bounded_and_keep_the_latest(
            cap in 1usize..8,
            tenant_cap in 1usize..8,
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let mut p = ProgramPlaces::with_caps(cap, tenant_cap);
            for (t, w, replica) in ops {
                // A program id names one tenant's program (the keys are tenant-scoped).
                let w = w * 3 + u64::from(t);
                match replica {
                    Some(r) => {
                        let replica = r.to_string();
                        p.note(&t.to_string(), w, &replica, u32::from(r));
                        prop_assert_eq!(p.get(w), Some((replica.as_str(), u32::from(r))));
                    }
                    None => {
                        p.forget(w);
                        prop_assert_eq!(p.get(w), None);
                    }
                }
                prop_assert!(p.len() <= cap);
                prop_assert!(p.by_tenant.values().all(|own| !own.is_empty() && own.len() <= tenant_cap));
                prop_assert_eq!(p.by_stamp.len(), p.len());
                prop_assert_eq!(p.by_tenant.values().map(BTreeMap::len).sum::<usize>(), p.len());
                prop_assert!(p.by_stamp.values().all(|w| p.by_workflow.contains_key(w)));
            }
        }
    }
}
