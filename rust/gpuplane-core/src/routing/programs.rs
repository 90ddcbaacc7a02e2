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
//! forgotten beyond; [`super::Router::end_program`] forgets one at once. A forgotten program's
//! next call is routed as a new one.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

/// Programs whose last call's replica the router remembers, at most.
pub const MAX_PROGRAM_PLACES: usize = 65_536;

/// A program's last call: its replica and prompt blocks, and when it was routed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    replica: String,
    blocks: u32,
    stamp: u64,
}

/// The replica of each remembered program's last call, least recently routed first.
#[derive(Debug, Clone)]
pub(crate) struct ProgramPlaces {
    by_workflow: FxHashMap<u64, Place>,
    by_stamp: BTreeMap<u64, u64>,
    next: u64,
    cap: usize,
}

impl Default for ProgramPlaces {
    fn default() -> Self {
        Self::with_cap(MAX_PROGRAM_PLACES)
    }
}

impl ProgramPlaces {
    /// Remembers at most `cap` programs (at least 1).
    pub fn with_cap(cap: usize) -> Self {
        Self {
            by_workflow: FxHashMap::default(),
            by_stamp: BTreeMap::new(),
            next: 0,
            cap: cap.max(1),
        }
    }

    /// The replica and prompt blocks of program `workflow`'s last call, if remembered.
    pub fn get(&self, workflow: u64) -> Option<(&str, u32)> {
        let p = self.by_workflow.get(&workflow)?;
        Some((p.replica.as_str(), p.blocks))
    }

    /// Program `workflow`'s call of `blocks` prompt blocks went to `replica`.
    pub fn note(&mut self, workflow: u64, replica: &str, blocks: u32) {
        self.forget(workflow);
        let stamp = self.next;
        self.next += 1;
        let replica = replica.to_string();
        let place = Place {
            replica,
            blocks,
            stamp,
        };
        self.by_workflow.insert(workflow, place);
        self.by_stamp.insert(stamp, workflow);
        while self.by_workflow.len() > self.cap {
            let (_, oldest) = self.by_stamp.pop_first().expect("as many stamps as places");
            self.by_workflow.remove(&oldest);
        }
    }

    /// Forgets program `workflow` (no-op if not remembered).
    pub fn forget(&mut self, workflow: u64) {
        if let Some(p) = self.by_workflow.remove(&workflow) {
            self.by_stamp.remove(&p.stamp);
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

    /// Note (`Some(replica)`) or forget (`None`) a program.
    fn op() -> impl Strategy<Value = (u64, Option<u8>)> {
        (0u64..40, proptest::option::of(0u8..3))
    }

    proptest! {
        /// Whatever the programs' order of routes and ends: at most `cap` are remembered,
        /// the last noted always is (as noted), a forgotten one is not, and the two indexes
        /// agree.
        #[test]
        fn places_are_bounded_and_keep_the_latest(cap in 1usize..8, ops in proptest::collection::vec(op(), 0..200)) {
            let mut p = ProgramPlaces::with_cap(cap);
            for (w, replica) in ops {
                match replica {
                    Some(r) => {
                        let replica = r.to_string();
                        p.note(w, &replica, u32::from(r));
                        prop_assert_eq!(p.get(w), Some((replica.as_str(), u32::from(r))));
                    }
                    None => {
                        p.forget(w);
                        prop_assert_eq!(p.get(w), None);
                    }
                }
                prop_assert!(p.len() <= cap);
                prop_assert_eq!(p.by_stamp.len(), p.len());
                prop_assert!(p.by_stamp.values().all(|w| p.by_workflow.contains_key(w)));
            }
        }
    }
}
