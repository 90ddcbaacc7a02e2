//! Ordering structures: priority bands -> accounts by virtual counter -> requests by key.
//!
//! One [`Ladder`] holds the waiting queue (best: highest band, lowest counter, smallest key)
//! and another the running index used to pick preemption victims (lowest band, highest
//! counter, largest key). Every operation is O(log n).

use std::collections::{BTreeMap, BTreeSet};

use super::hash::FxHashMap;

pub(crate) use crate::total_order::OrdF64;

/// Order of a request inside its account: primary key, then arrival, then id; carries the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct QKey {
    primary: OrdF64,
    arrival: OrdF64,
    id: u64,
    /// Slab slot of the request (unique with `id`, so it does not change the order).
    pub slot: u32,
}

impl QKey {
    /// A key ordered by `primary`, then `arrival`, then `id`.
    pub fn new(primary: OrdF64, arrival: f64, id: u64, slot: u32) -> Self {
        Self {
            primary,
            arrival: OrdF64(arrival),
            id,
            slot,
        }
    }
}

/// Accounts with work in one band, and each account's requests.
#[derive(Debug, Default)]
struct Band {
    /// Accounts by counter, then tie stamp (see [`Ladder::set_tie`]).
    by_counter: BTreeSet<(OrdF64, u64, u32)>,
    queues: FxHashMap<u32, BTreeSet<QKey>>,
}

/// Bands -> accounts ordered by counter -> requests ordered by key.
#[derive(Debug, Default)]
pub(crate) struct Ladder {
    bands: BTreeMap<i32, Band>,
    /// Bands each account has entries in (usually one).
    member_bands: Vec<Vec<i32>>,
    /// Tie stamps of accounts given one (others tie by their index).
    ties: Vec<Option<u64>>,
    len: usize,
}

impl Ladder {
    /// Orders `account` among accounts of equal counter by `stamp` (lower first) instead of
    /// its index: a recycled account is then not ranked by the index it inherited. Only while
    /// the account holds no entry.
    pub fn set_tie(&mut self, account: u32, stamp: u64) {
        let a = account as usize;
        if self.ties.len() <= a {
            self.ties.resize(a + 1, None);
        }
        self.ties[a] = Some(stamp);
    }

    fn tie(&self, account: u32) -> u64 {
        let own = self.ties.get(account as usize).copied().flatten();
        own.unwrap_or(u64::from(account))
    }

    /// Number of requests held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Adds `key` for `account` (whose counter is `counter`) in `band`.
    pub fn insert(&mut self, band: i32, account: u32, counter: f64, key: QKey) {
        let tie = self.tie(account);
        let b = self.bands.entry(band).or_default();
        let queue = b.queues.entry(account).or_default();
        if queue.is_empty() {
            b.by_counter.insert((OrdF64(counter), tie, account));
            let a = account as usize;
            if self.member_bands.len() <= a {
                self.member_bands.resize_with(a + 1, Vec::new);
            }
            self.member_bands[a].push(band);
        }
        if queue.insert(key) {
            self.len += 1;
        }
    }

    /// Removes `key`; `counter` must be the one the account was inserted or recounted with.
    pub fn remove(&mut self, band: i32, account: u32, counter: f64, key: &QKey) {
        let tie = self.tie(account);
        let Some(b) = self.bands.get_mut(&band) else {
            return;
        };
        let Some(queue) = b.queues.get_mut(&account) else {
            return;
        };
        if !queue.remove(key) {
            return;
        }
        self.len -= 1;
        if queue.is_empty() {
            b.queues.remove(&account);
            b.by_counter.remove(&(OrdF64(counter), tie, account));
            self.member_bands[account as usize].retain(|&x| x != band);
            if b.by_counter.is_empty() {
                self.bands.remove(&band);
            }
        }
    }

    /// Moves `account` from counter `old` to `new` in every band it is in.
    pub fn recount(&mut self, account: u32, old: f64, new: f64) {
        let tie = self.tie(account);
        let Some(bands) = self.member_bands.get(account as usize) else {
            return;
        };
        for band in bands {
            if let Some(b) = self.bands.get_mut(band) {
                b.by_counter.remove(&(OrdF64(old), tie, account));
                b.by_counter.insert((OrdF64(new), tie, account));
            }
        }
    }

    /// Best waiting entry: highest band, lowest counter, smallest key.
    pub fn best(&self) -> Option<QKey> {
        let b = self.bands.values().next_back()?;
        let &(_, _, account) = b.by_counter.first()?;
        b.queues.get(&account)?.first().copied()
    }

    /// Victim entry: lowest band, highest counter, largest key.
    pub fn victim(&self) -> Option<QKey> {
        let b = self.bands.values().next()?;
        let &(_, _, account) = b.by_counter.last()?;
        b.queues.get(&account)?.last().copied()
    }

    /// Lowest band held.
    pub fn lowest_band(&self) -> Option<i32> {
        self.bands.keys().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(arrival: f64, id: u64) -> QKey {
        QKey::new(OrdF64(arrival), arrival, id, id as u32)
    }

    #[test]
    fn best_and_victim_follow_band_counter_key() {
        let mut l = Ladder::default();
        l.insert(0, 1, 5.0, key(1.0, 1));
        l.insert(0, 2, 3.0, key(2.0, 2));
        l.insert(0, 2, 3.0, key(3.0, 3));
        l.insert(1, 1, 5.0, key(4.0, 4));
        assert_eq!(l.best().unwrap().slot, 4);
        assert_eq!(l.victim().unwrap().slot, 1);
        l.remove(1, 1, 5.0, &key(4.0, 4));
        assert_eq!(l.best().unwrap().slot, 2);
        l.recount(2, 3.0, 9.0);
        assert_eq!(l.best().unwrap().slot, 1);
        assert_eq!(l.victim().unwrap().slot, 3);
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn equal_counters_tie_by_stamp_then_index() {
        let mut l = Ladder::default();
        l.set_tie(0, 9);
        l.insert(0, 0, 1.0, key(1.0, 1));
        l.insert(0, 3, 1.0, key(2.0, 2));
        assert_eq!(
            l.best().unwrap().slot,
            2,
            "account 3 (tie 3) before 0 (tie 9)"
        );
        l.recount(3, 1.0, 2.0);
        assert_eq!(l.best().unwrap().slot, 1);
        l.remove(0, 0, 1.0, &key(1.0, 1));
        assert_eq!(l.best().unwrap().slot, 2);
    }
}
