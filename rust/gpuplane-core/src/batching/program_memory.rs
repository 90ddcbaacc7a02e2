//! Memory of named programs (workflow ids) that have no call queued or running.
//!
//! A named workflow's account (its virtual counter under `workflow_fair`, its attained
//! service and waiting under `program_las`) is kept while any call of it is queued or
//! running. Once its last live call leaves, the program is *idle*: its account is kept so
//! that its next call (after a tool call) keeps its rank, but at most
//! [`super::BatchConfig::idle_programs`] idle programs are remembered. Beyond that the one
//! idle the longest is forgotten and its account recycled; if that program returns, it starts
//! afresh (counter 0, nothing waited), like a new program. So the scheduler's memory is
//! bounded by its live calls plus `idle_programs`, however many programs it has seen.

use std::collections::BTreeMap;

/// Idle named programs in the order they became idle (least recently active first).
#[derive(Debug, Default)]
pub(crate) struct IdlePrograms {
    /// Idle accounts by the stamp they became idle at.
    by_stamp: BTreeMap<u64, u32>,
    /// Each account's idle stamp, if idle.
    stamp: Vec<Option<u64>>,
    next: u64,
}

impl IdlePrograms {
    /// Marks account `a` idle (most recently active).
    pub fn park(&mut self, a: u32) {
        let i = a as usize;
        if self.stamp.len() <= i {
            self.stamp.resize(i + 1, None);
        }
        self.unpark(a);
        self.by_stamp.insert(self.next, a);
        self.stamp[i] = Some(self.next);
        self.next += 1;
    }

    /// Marks account `a` active (a call of it is live); no-op if it was not idle.
    pub fn unpark(&mut self, a: u32) {
        if let Some(s) = self.stamp.get_mut(a as usize).and_then(Option::take) {
            self.by_stamp.remove(&s);
        }
    }

    /// Removes and returns the account idle the longest, if more than `cap` are idle.
    pub fn over_cap(&mut self, cap: u32) -> Option<u32> {
        if self.by_stamp.len() <= cap as usize {
            return None;
        }
        let (_, a) = self.by_stamp.pop_first()?;
        self.stamp[a as usize] = None;
        Some(a)
    }

    /// Idle programs remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_stamp.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_idle_beyond_cap() {
        let mut idle = IdlePrograms::default();
        for a in 0..3 {
            idle.park(a);
        }
        idle.unpark(0);
        idle.park(0);
        assert_eq!(idle.over_cap(2), Some(1));
        assert_eq!(idle.over_cap(2), None);
        assert_eq!(idle.len(), 2);
    }
}
