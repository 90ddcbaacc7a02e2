//! Which replicas hold each cached block hash, so that a route finds the replicas sharing a
//! prompt's prefix by a few lookups instead of probing every replica's cache.

use rustc_hash::FxHashMap;

/// Block hash -> the replica slots that have it cached, sorted.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixIndex {
    holders: FxHashMap<u64, Vec<u32>>,
}

impl PrefixIndex {
    pub fn add(&mut self, hash: u64, slot: u32) {
        let list = self.holders.entry(hash).or_default();
        if let Err(at) = list.binary_search(&slot) {
            list.insert(at, slot);
        }
    }

    pub fn remove(&mut self, hash: u64, slot: u32) {
        if let Some(list) = self.holders.get_mut(&hash) {
            list.retain(|&s| s != slot);
            if list.is_empty() {
                self.holders.remove(&hash);
            }
        }
    }

    /// Renames `from` to `to` in the lists of `hashes` (a replica moved to another slot).
    pub fn move_slot(&mut self, hashes: impl Iterator<Item = u64>, from: u32, to: u32) {
        for h in hashes {
            if let Some(list) = self.holders.get_mut(&h) {
                if let Ok(at) = list.binary_search(&from) {
                    list.remove(at);
                    if let Err(at) = list.binary_search(&to) {
                        list.insert(at, to);
                    }
                }
            }
        }
    }

    /// `(slot, leading blocks of hashes it has cached)` for every slot with at least one,
    /// sorted by slot. Each block intersects the slots still matching with the block's
    /// holders (sorted merges; a shared prefix's blocks usually have the same holders, which
    /// one slice comparison confirms).
    pub fn overlaps(&self, hashes: &[u64], out: &mut Vec<(u32, u32)>) {
        out.clear();
        let Some(first) = hashes.first().and_then(|h| self.holders.get(h)) else {
            return;
        };
        let mut alive: Vec<u32> = first.clone();
        let mut depth = 1u32;
        for h in &hashes[1..] {
            let list = self.holders.get(h).map_or(&[][..], |l| l.as_slice());
            if list != alive.as_slice() {
                let kept = intersect(&alive, list);
                let dropped = difference(&alive, &kept);
                out.extend(dropped.into_iter().map(|s| (s, depth)));
                alive = kept;
            }
            if alive.is_empty() {
                break;
            }
            depth += 1;
        }
        out.extend(alive.into_iter().map(|s| (s, depth)));
        out.sort_unstable();
    }
}

/// Key -> `(slot, value)` for the slots that have the key, sorted by slot: which replicas
/// hold a resident adapter, or which give a tenant a fair-share excess, so that a route reads
/// one short list instead of probing every replica.
#[derive(Debug, Clone)]
pub(crate) struct SlotLists<K, V> {
    lists: FxHashMap<K, Vec<(u32, V)>>,
}

impl<K, V> Default for SlotLists<K, V> {
    fn default() -> Self {
        SlotLists {
            lists: FxHashMap::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Copy> SlotLists<K, V> {
    /// Sets `slot`'s value under `key`.
    pub fn insert(&mut self, key: K, slot: u32, value: V) {
        let list = self.lists.entry(key).or_default();
        match list.binary_search_by_key(&slot, |e| e.0) {
            Ok(at) => list[at].1 = value,
            Err(at) => list.insert(at, (slot, value)),
        }
    }

    /// Drops `slot` from `key`'s list.
    pub fn remove<Q>(&mut self, key: &Q, slot: u32)
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        if let Some(list) = self.lists.get_mut(key) {
            if let Ok(at) = list.binary_search_by_key(&slot, |e| e.0) {
                list.remove(at);
            }
            if list.is_empty() {
                self.lists.remove(key);
            }
        }
    }

    /// Renames `from` to `to` in `key`'s list (a replica moved to another slot).
    pub fn move_slot<Q>(&mut self, key: &Q, from: u32, to: u32)
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        if let Some(list) = self.lists.get_mut(key) {
            if let Ok(at) = list.binary_search_by_key(&from, |e| e.0) {
                let (_, v) = list.remove(at);
                if let Err(at) = list.binary_search_by_key(&to, |e| e.0) {
                    list.insert(at, (to, v));
                }
            }
        }
    }

    /// `key`'s `(slot, value)` list, sorted by slot (empty when no slot has it).
    pub fn get<Q>(&self, key: &Q) -> &[(u32, V)]
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.lists.get(key).map_or(&[][..], |l| l.as_slice())
    }
}

/// The slots of sorted `a` also in sorted `b`.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len().min(b.len())));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The slots of sorted `a` not in sorted `kept` (a subset of `a`).
fn difference(a: &[u32], kept: &[u32]) -> Vec<u32> {
    let mut k = kept.iter().peekable();
    a.iter()
        .copied()
        .filter(|s| {
            if k.peek() == Some(&s) {
                k.next();
                false
            } else {
                true
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_count_leading_blocks_per_slot() {
        let mut ix = PrefixIndex::default();
        for (h, s) in [(1, 0), (2, 0), (3, 0), (1, 2), (3, 2), (2, 5), (1, 5)] {
            ix.add(h, s);
        }
        let mut out = Vec::new();
        ix.overlaps(&[1, 2, 3, 4], &mut out);
        assert_eq!(out, [(0, 3), (2, 1), (5, 2)]);
        ix.remove(2, 0);
        ix.move_slot([1, 3].into_iter(), 2, 7);
        ix.overlaps(&[1, 2, 3], &mut out);
        assert_eq!(out, [(0, 1), (5, 2), (7, 1)]);
        ix.overlaps(&[9], &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn slot_lists_stay_sorted_by_slot() {
        let mut l: SlotLists<u32, f64> = SlotLists::default();
        for (k, s, v) in [(1, 4, 0.5), (1, 0, 0.25), (2, 3, 1.0), (1, 2, 0.75)] {
            l.insert(k, s, v);
        }
        assert_eq!(l.get(&1), [(0, 0.25), (2, 0.75), (4, 0.5)]);
        l.insert(1, 2, 0.1);
        l.move_slot(&1, 4, 1);
        l.remove(&1, 0);
        l.remove(&2, 3);
        assert_eq!(l.get(&1), [(1, 0.5), (2, 0.1)]);
        assert!(l.get(&2).is_empty());
    }
}
