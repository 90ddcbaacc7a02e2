//! Each tenant's fair-share excess per replica slot, in the form a route reads fastest: a
//! sorted `(slot, excess)` list for a tenant with an excess on few slots, and a dense column
//! (one value per slot, 0 where none) for a tenant with one on many, so that the route loop
//! reads it by index instead of advancing a cursor (a data dependency per slot).
//!
//! A tenant's column is dense while it has an excess on at least 1 slot in [`DENSE_FROM`]
//! (sparse again below half that), so dense columns take at most `2 x DENSE_FROM x 8` bytes
//! per list entry they stand for.

use rustc_hash::FxHashMap;

use super::index::SlotLists;

/// A tenant's column turns dense when at least one slot in this many has an excess.
const DENSE_FROM: usize = 8;

/// What a route reads of one tenant's excess.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ExcessView<'a> {
    /// `(slot, excess)` sorted by slot (empty: no excess anywhere).
    Sparse(&'a [(u32, f64)]),
    /// Excess by slot.
    Dense(&'a [f64]),
}

/// Tenant account -> its excess per slot.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExcessColumns {
    lists: SlotLists<u32, f64>,
    dense: FxHashMap<u32, Vec<f64>>,
    slots: usize,
}

impl ExcessColumns {
    /// One more slot (at the end), with no excess.
    pub fn push_slot(&mut self) {
        self.slots += 1;
        for col in self.dense.values_mut() {
            col.push(0.0);
        }
    }

    /// Drops the last slot (which has no excess left: removed or moved).
    pub fn pop_slot(&mut self) {
        self.slots -= 1;
        for col in self.dense.values_mut() {
            col.truncate(self.slots);
        }
        let accounts: Vec<u32> = self.dense.keys().copied().collect();
        for a in accounts {
            self.reshape(a);
        }
    }

    /// Sets `account`'s excess on `slot`.
    pub fn insert(&mut self, account: u32, slot: u32, excess: f64) {
        self.lists.insert(account, slot, excess);
        if let Some(col) = self.dense.get_mut(&account) {
            col[slot as usize] = excess;
        }
        self.reshape(account);
    }

    /// Drops `account`'s excess on `slot`.
    pub fn remove(&mut self, account: u32, slot: u32) {
        self.lists.remove(&account, slot);
        if let Some(col) = self.dense.get_mut(&account) {
            col[slot as usize] = 0.0;
        }
        self.reshape(account);
    }

    /// Moves `account`'s excess on `from` to `to` (a replica moved to another slot).
    pub fn move_slot(&mut self, account: u32, from: u32, to: u32) {
        self.lists.move_slot(&account, from, to);
        if let Some(col) = self.dense.get_mut(&account) {
            col[to as usize] = std::mem::take(&mut col[from as usize]);
        }
    }

    /// `account`'s excess, as the route reads it.
    pub fn view(&self, account: u32) -> ExcessView<'_> {
        match self.dense.get(&account) {
            Some(col) => ExcessView::Dense(col),
            None => ExcessView::Sparse(self.lists.get(&account)),
        }
    }

    /// Makes `account`'s column dense or sparse by how many slots it covers.
    fn reshape(&mut self, account: u32) {
        let list = self.lists.get(&account);
        let is_dense = self.dense.contains_key(&account);
        if !is_dense && !list.is_empty() && list.len() * DENSE_FROM >= self.slots {
            let mut col = vec![0.0; self.slots];
            for &(s, e) in list {
                col[s as usize] = e;
            }
            self.dense.insert(account, col);
        } else if is_dense && list.len() * DENSE_FROM * 2 < self.slots {
            self.dense.remove(&account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(c: &ExcessColumns, a: u32, slot: u32) -> f64 {
        match c.view(a) {
            ExcessView::Dense(col) => col[slot as usize],
            ExcessView::Sparse(list) => list.iter().find(|e| e.0 == slot).map_or(0.0, |e| e.1),
        }
    }

    #[test]
    fn a_tenant_with_excess_on_many_slots_reads_densely_and_back() {
        let mut c = ExcessColumns::default();
        for _ in 0..32 {
            c.push_slot();
        }
        c.insert(1, 5, 0.5);
        assert!(matches!(c.view(1), ExcessView::Sparse(_)));
        for s in 0..4 {
            c.insert(1, s, 0.25);
        }
        assert!(matches!(c.view(1), ExcessView::Dense(_)));
        c.move_slot(1, 5, 31);
        assert_eq!((read(&c, 1, 5), read(&c, 1, 31)), (0.0, 0.5));
        c.push_slot();
        assert_eq!(read(&c, 1, 32), 0.0);
        for s in 0..4 {
            c.remove(1, s);
        }
        assert!(matches!(c.view(1), ExcessView::Sparse(_)));
        assert_eq!(read(&c, 1, 31), 0.5);
        assert!(matches!(c.view(2), ExcessView::Sparse([])));
    }
}
