//! Which program registered each cached prefix block, and how many cached blocks each program
//! owns (`program_las`'s cache-aware ranking, see `programs.rs`).
//!
//! A block's owner is the workflow account of the call that registered its hash. The count of
//! an account rises when a block is registered for it and falls when that hash is evicted, so
//! reading it is O(1) and keeping it is O(1) per registered or evicted block. An account is
//! recycled for another program: [`CacheOwners::disown`] zeroes its count and bumps its
//! generation, and blocks registered under an older generation no longer count for it.

use super::seq::NIL;

/// Owners of cached blocks and the blocks each owner holds.
#[derive(Debug, Default)]
pub(crate) struct CacheOwners {
    /// Owner account of each block's hash (`NIL`: none).
    owner: Vec<u32>,
    /// The owner's generation when the block was registered.
    owner_generation: Vec<u32>,
    /// Each account's current generation.
    generation: Vec<u32>,
    /// Cached blocks each account owns (current generation only).
    owned: Vec<u32>,
    /// Whether each account is in `changed`.
    dirty: Vec<bool>,
    /// Accounts whose count moved since the last [`CacheOwners::drain_changed`].
    changed: Vec<u32>,
}

impl CacheOwners {
    /// Owners for a pool of `blocks` blocks.
    pub fn new(blocks: u32) -> Self {
        Self {
            owner: vec![NIL; blocks as usize],
            owner_generation: vec![0; blocks as usize],
            ..Self::default()
        }
    }

    /// Cached blocks account `a` owns.
    pub fn owned(&self, a: u32) -> u32 {
        self.owned.get(a as usize).copied().unwrap_or(0)
    }

    /// Whether account `a` (not `NIL`) owns block `b`'s hash.
    pub fn owns(&self, a: u32, b: u32) -> bool {
        let i = b as usize;
        a != NIL && self.owner[i] == a && self.owner_generation[i] == self.generation[a as usize]
    }

    /// Block `b`'s hash was just registered by a call of account `a` (`NIL`: nobody's).
    pub fn claim(&mut self, b: u32, a: u32) {
        if a == NIL {
            return;
        }
        self.make_room(a);
        self.owner[b as usize] = a;
        self.owner_generation[b as usize] = self.generation[a as usize];
        self.owned[a as usize] += 1;
        self.mark(a);
    }

    /// Block `b`'s hash was just evicted.
    pub fn lose(&mut self, b: u32) {
        let a = std::mem::replace(&mut self.owner[b as usize], NIL);
        if a == NIL || self.owner_generation[b as usize] != self.generation[a as usize] {
            return;
        }
        self.owned[a as usize] -= 1;
        self.mark(a);
    }

    /// Block `to` now holds the hash block `from` held (a duplicate takes over the hash).
    pub fn hand_over(&mut self, from: u32, to: u32) {
        let (f, t) = (from as usize, to as usize);
        self.owner[t] = std::mem::replace(&mut self.owner[f], NIL);
        self.owner_generation[t] = self.owner_generation[f];
    }

    /// Account `a` starts afresh (recycled for another program): it owns nothing.
    pub fn disown(&mut self, a: u32) {
        self.make_room(a);
        self.generation[a as usize] = self.generation[a as usize].wrapping_add(1);
        self.owned[a as usize] = 0;
    }

    /// Moves the accounts whose count moved since the last drain into `out`.
    pub fn drain_changed(&mut self, out: &mut Vec<u32>) {
        for &a in &self.changed {
            self.dirty[a as usize] = false;
        }
        out.append(&mut self.changed);
    }

    fn mark(&mut self, a: u32) {
        if !self.dirty[a as usize] {
            self.dirty[a as usize] = true;
            self.changed.push(a);
        }
    }

    fn make_room(&mut self, a: u32) {
        let i = a as usize;
        if self.owned.len() <= i {
            self.generation.resize(i + 1, 0);
            self.owned.resize(i + 1, 0);
            self.dirty.resize(i + 1, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_claims_losses_and_recycling() {
        let mut o = CacheOwners::new(4);
        o.claim(0, 7);
        o.claim(1, 7);
        o.claim(2, 3);
        assert_eq!((o.owned(7), o.owned(3)), (2, 1));
        o.lose(1);
        assert_eq!(o.owned(7), 1);
        o.hand_over(0, 3);
        o.lose(3);
        assert_eq!(o.owned(7), 0, "the hash moved to block 3 and went with it");
        o.disown(3);
        assert_eq!(o.owned(3), 0);
        o.lose(2);
        assert_eq!(
            o.owned(3),
            0,
            "a block of the old generation no longer counts"
        );
        let mut changed = Vec::new();
        o.drain_changed(&mut changed);
        changed.sort_unstable();
        assert_eq!(changed, vec![3, 7]);
    }
}
