//! Which replicas hold each cached block hash, so that a route finds the replicas sharing a
//! prompt's prefix by a few lookups instead of probing every replica's cache.

use rustc_hash::FxHashMap;

/// Block hash -> the replica slots that have it cached.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixIndex {
    holders: FxHashMap<u64, Vec<u32>>,
}

impl PrefixIndex {
    pub fn add(&mut self, hash: u64, slot: u32) {
        let list = self.holders.entry(hash).or_default();
        if !list.contains(&slot) {
            list.push(slot);
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
                for s in list.iter_mut().filter(|s| **s == from) {
                    *s = to;
                }
            }
        }
    }

    /// `(slot, leading blocks of hashes it has cached)` for every slot with at least one,
    /// sorted by slot.
    pub fn overlaps(&self, hashes: &[u64], out: &mut Vec<(u32, u32)>) {
        out.clear();
        let Some(first) = hashes.first().and_then(|h| self.holders.get(h)) else {
            return;
        };
        out.extend(first.iter().map(|&s| (s, 1)));
        for (depth, h) in (1u32..).zip(&hashes[1..]) {
            let Some(list) = self.holders.get(h) else {
                break;
            };
            let mut grew = false;
            for e in out.iter_mut().filter(|e| e.1 == depth) {
                if list.contains(&e.0) {
                    e.1 += 1;
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        out.sort_unstable();
    }
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
}
