//! The KV block pool with a prefix cache.
//!
//! A block is *used* (reference count > 0), *cached-free* (count 0, still holding a hash, in
//! an LRU list) or *free* (count 0, no hash). Full prompt blocks are registered under the
//! caller's hash and shared by reference count. A new block comes from the free list first,
//! then by evicting the least-recently-released cached block. Every operation is O(1) per
//! block.

use super::hash::FxHashMap;
use super::seq::NIL;

/// The pool of KV blocks.
#[derive(Debug)]
pub(crate) struct BlockPool {
    refcount: Vec<u32>,
    /// The hash of each block, meaningful where its bit in `hashed` is set.
    hash: Vec<u64>,
    /// One bit per block: it holds a hash. `release` tests only this, and a bit set stays in
    /// cache where 16-byte `Option<u64>`s would miss for every scattered block.
    hashed: Vec<u64>,
    prev: Vec<u32>,
    next: Vec<u32>,
    lru_head: u32,
    lru_tail: u32,
    cached_free: u32,
    free: Vec<u32>,
    by_hash: FxHashMap<u64, u32>,
    /// Hashes stored and removed since the last drain, when recording (what an engine
    /// publishes to routers, like vLLM's KV events).
    events: Option<Vec<CacheEvent>>,
}

/// A change to the set of cached block hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheEvent {
    Stored(u64),
    Removed(u64),
}

impl BlockPool {
    /// A pool of `n` free blocks.
    pub fn new(n: u32) -> Self {
        Self {
            refcount: vec![0; n as usize],
            hash: vec![0; n as usize],
            hashed: vec![0; (n as usize).div_ceil(64)],
            prev: vec![NIL; n as usize],
            next: vec![NIL; n as usize],
            lru_head: NIL,
            lru_tail: NIL,
            cached_free: 0,
            free: (0..n).rev().collect(),
            by_hash: FxHashMap::default(),
            events: None,
        }
    }

    /// Total blocks.
    pub fn total(&self) -> u32 {
        self.refcount.len() as u32
    }

    /// Free blocks holding no hash.
    pub fn free_uncached(&self) -> u32 {
        self.free.len() as u32
    }

    /// Free blocks still holding a hash (evictable).
    pub fn cached_free(&self) -> u32 {
        self.cached_free
    }

    /// Blocks that can be handed out (free plus evictable).
    pub fn available(&self) -> u32 {
        self.free_uncached() + self.cached_free
    }

    /// Blocks in use (reference count > 0).
    pub fn used(&self) -> u32 {
        self.total() - self.available()
    }

    /// Hashes of the blocks that hold one (used or cached-free), in no particular order.
    pub fn hashes(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_hash.keys().copied()
    }

    /// Reference count of a block.
    pub fn refcount(&self, b: u32) -> u32 {
        self.refcount[b as usize]
    }

    /// How many leading `hashes` are cached, and how many of those are cached-free.
    pub fn probe(&self, hashes: &[u64]) -> (u32, u32) {
        let (mut hits, mut idle) = (0, 0);
        for h in hashes {
            let Some(&b) = self.by_hash.get(h) else { break };
            hits += 1;
            idle += u32::from(self.refcount[b as usize] == 0);
        }
        (hits, idle)
    }

    /// Takes a reference on the cached blocks of `hashes` (all must be cached), in order.
    pub fn acquire_cached(&mut self, hashes: &[u64], out: &mut Vec<u32>) {
        for h in hashes {
            let b = self.by_hash[h];
            if self.refcount[b as usize] == 0 {
                self.unlink(b);
            }
            self.refcount[b as usize] += 1;
            out.push(b);
        }
    }

    /// A new block with reference count 1, evicting the LRU cached block if needed.
    pub fn allocate(&mut self) -> Option<u32> {
        let b = match self.free.pop() {
            Some(b) => b,
            None => self.evict()?,
        };
        self.refcount[b as usize] = 1;
        Some(b)
    }

    fn evict(&mut self) -> Option<u32> {
        let b = self.lru_head;
        if b == NIL {
            return None;
        }
        self.unlink(b);
        if let Some(h) = self.take_hash(b) {
            self.by_hash.remove(&h);
            if let Some(ev) = &mut self.events {
                ev.push(CacheEvent::Removed(h));
            }
        }
        Some(b)
    }

    /// Drops one reference on each block, last block first (so tails are evicted first).
    pub fn release(&mut self, blocks: &[u32]) {
        for &b in blocks.iter().rev() {
            let i = b as usize;
            self.refcount[i] -= 1;
            if self.refcount[i] > 0 {
                continue;
            }
            if self.has_hash(b) {
                self.push_lru(b);
            } else {
                self.free.push(b);
            }
        }
    }

    /// Registers a used block under `hash` unless the hash is already cached or the block
    /// already has one.
    pub fn register(&mut self, b: u32, hash: u64) {
        if self.has_hash(b) || self.by_hash.contains_key(&hash) {
            return;
        }
        self.hash[b as usize] = hash;
        self.hashed[b as usize / 64] |= 1 << (b % 64);
        self.by_hash.insert(hash, b);
        if let Some(ev) = &mut self.events {
            ev.push(CacheEvent::Stored(hash));
        }
    }

    /// Starts (or stops) recording cache events.
    pub fn record_events(&mut self, on: bool) {
        self.events = on.then(Vec::new);
    }

    /// Moves the recorded events into `out`.
    pub fn drain_events(&mut self, out: &mut Vec<CacheEvent>) {
        if let Some(ev) = &mut self.events {
            out.append(ev);
        }
    }

    fn has_hash(&self, b: u32) -> bool {
        self.hashed[b as usize / 64] & (1 << (b % 64)) != 0
    }

    /// Removes the hash of `b`, if it has one.
    fn take_hash(&mut self, b: u32) -> Option<u64> {
        if !self.has_hash(b) {
            return None;
        }
        self.hashed[b as usize / 64] &= !(1 << (b % 64));
        Some(self.hash[b as usize])
    }

    fn push_lru(&mut self, b: u32) {
        self.prev[b as usize] = self.lru_tail;
        self.next[b as usize] = NIL;
        match self.lru_tail {
            NIL => self.lru_head = b,
            t => self.next[t as usize] = b,
        }
        self.lru_tail = b;
        self.cached_free += 1;
    }

    fn unlink(&mut self, b: u32) {
        let (p, n) = (self.prev[b as usize], self.next[b as usize]);
        match p {
            NIL => self.lru_head = n,
            p => self.next[p as usize] = n,
        }
        match n {
            NIL => self.lru_tail = p,
            n => self.prev[n as usize] = p,
        }
        self.cached_free -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_eviction_and_sharing() {
        let mut p = BlockPool::new(3);
        let a = p.allocate().unwrap();
        let b = p.allocate().unwrap();
        p.register(a, 10);
        p.register(b, 20);
        p.release(&[a]);
        p.release(&[b]);
        assert_eq!((p.cached_free(), p.free_uncached(), p.used()), (2, 1, 0));
        assert_eq!(p.probe(&[10, 20, 30]), (2, 2));
        let mut got = Vec::new();
        p.acquire_cached(&[10], &mut got);
        assert_eq!(got, vec![a]);
        let _c = p.allocate().unwrap();
        let d = p.allocate().unwrap();
        assert_eq!(d, b, "the LRU cached block is evicted");
        assert_eq!(p.probe(&[20]), (0, 0));
        assert!(p.allocate().is_none());
    }
}
