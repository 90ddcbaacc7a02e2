//! The KV block pool with a prefix cache.
//!
//! A block is *used* (reference count > 0) or free; a free block is *evict-first* (on a stack)
//! or *evict-last* (in an LRU list, least recently released first). Full prompt blocks are
//! registered under the caller's hash and shared by reference count; a free block keeps its
//! hash until it is handed out again. A new block comes from the stack first, then from the
//! head of the LRU list (evicting its hash). Which released blocks are evict-last is the
//! [`KvEviction`] order. Every operation is O(1) per block.

use super::config::KvEviction;
use super::hash::FxHashMap;
use super::kv_owners::CacheOwners;
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
    /// Blocks in the LRU list (each holds a hash under [`KvEviction::Lru`]).
    lru_len: u32,
    /// Free blocks holding a hash.
    cached_free: u32,
    /// The evict-first stack (top last).
    free: Vec<u32>,
    order: KvEviction,
    by_hash: FxHashMap<u64, u32>,
    /// [`KvEviction::Vllm`]: later blocks filled with a hash already cached, oldest first.
    /// vLLM caches such a duplicate too, and a hit takes the oldest block left.
    dups: FxHashMap<u64, Vec<u32>>,
    /// Hashes stored and removed since the last drain, when recording (what an engine
    /// publishes to routers, like vLLM's KV events).
    events: Option<Vec<CacheEvent>>,
    /// Which program registered each cached hash, when tracked (see `kv_owners.rs`).
    owners: Option<CacheOwners>,
}

/// A change to the set of cached block hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheEvent {
    Stored(u64),
    Removed(u64),
}

impl BlockPool {
    /// A pool of `n` free blocks, handed out in id order, released in `order`.
    pub fn new(n: u32, order: KvEviction) -> Self {
        Self {
            refcount: vec![0; n as usize],
            hash: vec![0; n as usize],
            hashed: vec![0; (n as usize).div_ceil(64)],
            prev: vec![NIL; n as usize],
            next: vec![NIL; n as usize],
            lru_head: NIL,
            lru_tail: NIL,
            lru_len: 0,
            cached_free: 0,
            free: (0..n).rev().collect(),
            order,
            by_hash: FxHashMap::default(),
            dups: FxHashMap::default(),
            events: None,
            owners: None,
        }
    }

    /// Starts tracking which program (workflow account) owns each cached hash.
    pub fn track_owners(&mut self) {
        self.owners = Some(CacheOwners::new(self.total()));
    }

    /// Cached blocks whose hash a call of account `a` registered (0 when not tracked).
    pub fn owned(&self, a: u32) -> u32 {
        self.owners.as_ref().map_or(0, |o| o.owned(a))
    }

    /// Account `a` is recycled for another program: the blocks it owned no longer count.
    pub fn disown(&mut self, a: u32) {
        if let Some(o) = &mut self.owners {
            o.disown(a);
        }
    }

    /// Moves the accounts whose owned count moved since the last call into `out`.
    pub fn drain_owner_changes(&mut self, out: &mut Vec<u32>) {
        if let Some(o) = &mut self.owners {
            o.drain_changed(out);
        }
    }

    /// Total blocks.
    pub fn total(&self) -> u32 {
        self.refcount.len() as u32
    }

    /// Free blocks holding no hash.
    pub fn free_uncached(&self) -> u32 {
        self.available() - self.cached_free
    }

    /// Free blocks still holding a hash (evictable).
    pub fn cached_free(&self) -> u32 {
        self.cached_free
    }

    /// Blocks that can be handed out (free plus evictable).
    pub fn available(&self) -> u32 {
        self.free.len() as u32 + self.lru_len
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
                self.cached_free -= 1;
            }
            self.refcount[b as usize] += 1;
            out.push(b);
        }
    }

    /// A new block with reference count 1: the top of the evict-first stack, else the LRU
    /// head (its hash evicted).
    pub fn allocate(&mut self) -> Option<u32> {
        let b = match self.free.pop() {
            Some(b) => b,
            None => self.pop_lru()?,
        };
        self.evict_hash(b);
        self.refcount[b as usize] = 1;
        Some(b)
    }

    fn pop_lru(&mut self) -> Option<u32> {
        let b = self.lru_head;
        (b != NIL).then(|| {
            self.unlink(b);
            b
        })
    }

    fn evict_hash(&mut self, b: u32) {
        let Some(h) = self.take_hash(b) else { return };
        self.cached_free -= 1;
        if !self.dups.is_empty() && self.evict_dup(h, b) {
            return;
        }
        if let Some(o) = &mut self.owners {
            o.lose(b);
        }
        self.by_hash.remove(&h);
        if let Some(ev) = &mut self.events {
            ev.push(CacheEvent::Removed(h));
        }
    }

    /// Evicts `b` from under `h` where `h` has duplicates; false when `h` goes with it.
    fn evict_dup(&mut self, h: u64, b: u32) -> bool {
        let Some(dups) = self.dups.get_mut(&h) else {
            return false;
        };
        if self.by_hash[&h] == b {
            let next = dups.remove(0);
            self.by_hash.insert(h, next);
            if let Some(o) = &mut self.owners {
                o.hand_over(b, next);
            }
        } else {
            dups.retain(|&d| d != b);
        }
        if dups.is_empty() {
            self.dups.remove(&h);
        }
        true
    }

    /// Drops one reference on each block of a request, last block first (so tails are
    /// evicted first). `full`: how many leading blocks are full (computed to the end).
    /// `finished_program`: the account of the program whose last call this was (`NIL`: none);
    /// under [`KvEviction::Lru`] the blocks it owns go to the head of the LRU list (nobody
    /// will reuse that context). [`KvEviction::Vllm`] keeps vLLM's own order: that pool
    /// mirrors one the engine evicts from, so it cannot choose differently.
    pub fn release(&mut self, blocks: &[u32], full: u32, finished_program: u32) {
        match self.order {
            KvEviction::Lru => self.release_lru(blocks, finished_program),
            KvEviction::Vllm => self.release_vllm(blocks, full),
        }
    }

    /// Puts a released block holding a hash on the LRU list: at its head if
    /// `finished_program` owns it, else at its tail.
    fn keep_cached(&mut self, b: u32, finished_program: u32) {
        let dead = self
            .owners
            .as_ref()
            .is_some_and(|o| o.owns(finished_program, b));
        if dead {
            self.push_lru_front(b);
        } else {
            self.push_lru(b);
        }
    }

    /// [`KvEviction::Lru`]: a block holding a hash goes to the LRU tail, any other onto the
    /// stack, one by one (the request's first block is handed out first).
    fn release_lru(&mut self, blocks: &[u32], finished_program: u32) {
        for &b in blocks.iter().rev() {
            if !self.unref(b) {
                continue;
            }
            if self.has_hash(b) {
                self.keep_cached(b, finished_program);
            } else {
                self.free.push(b);
            }
        }
    }

    /// [`KvEviction::Vllm`], vLLM's `BlockPool.free_blocks` over the request's blocks in
    /// reverse: the full blocks (vLLM caches every full block, prompt or output, known hash or
    /// not) to the LRU tail, tail first; the others prepended as one group, tail first (so the
    /// request's last block is handed out first).
    fn release_vllm(&mut self, blocks: &[u32], full: u32) {
        let full = (full as usize).min(blocks.len());
        for &b in blocks[full..].iter() {
            // A block past `full` holds no hash (only computed blocks are registered); one
            // that did would be lost to `acquire_cached` on the stack, so it stays evict-last.
            match (self.unref(b), self.has_hash(b)) {
                (true, false) => self.free.push(b),
                (true, true) => self.push_lru(b),
                (false, _) => {}
            }
        }
        for &b in blocks[..full].iter().rev() {
            if self.unref(b) {
                self.push_lru(b);
            }
        }
    }

    /// Drops one reference on `b`; true when that was the last.
    fn unref(&mut self, b: u32) -> bool {
        let i = b as usize;
        self.refcount[i] -= 1;
        if self.refcount[i] > 0 {
            return false;
        }
        self.cached_free += u32::from(self.has_hash(b));
        true
    }

    /// Returns blocks just handed out by [`BlockPool::allocate`] (none registered since) as if
    /// they had never been: back on top of the stack, the first handed out on top. (A hash
    /// evicted in handing one out stays evicted.)
    pub fn unallocate(&mut self, blocks: &[u32]) {
        for &b in blocks.iter().rev() {
            self.refcount[b as usize] = 0;
            self.free.push(b);
        }
    }

    /// Registers a used block under `hash` unless it already has one, for a call of account
    /// `owner` (`NIL`: nobody's). A hash already cached is kept with its block and owner
    /// (under [`KvEviction::Vllm`] the new block is its duplicate).
    pub fn register(&mut self, b: u32, hash: u64, owner: u32) {
        if self.has_hash(b) {
            return;
        }
        if self.by_hash.contains_key(&hash) {
            if self.order == KvEviction::Vllm {
                self.set_hash(b, hash);
                self.dups.entry(hash).or_default().push(b);
            }
            return;
        }
        self.set_hash(b, hash);
        self.by_hash.insert(hash, b);
        if let Some(o) = &mut self.owners {
            o.claim(b, owner);
        }
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

    fn set_hash(&mut self, b: u32, hash: u64) {
        self.hash[b as usize] = hash;
        self.hashed[b as usize / 64] |= 1 << (b % 64);
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
        self.lru_len += 1;
    }

    fn push_lru_front(&mut self, b: u32) {
        self.prev[b as usize] = NIL;
        self.next[b as usize] = self.lru_head;
        match self.lru_head {
            NIL => self.lru_tail = b,
            h => self.prev[h as usize] = b,
        }
        self.lru_head = b;
        self.lru_len += 1;
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
        self.lru_len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_eviction_and_sharing() {
        let mut p = BlockPool::new(3, KvEviction::Lru);
        let a = p.allocate().unwrap();
        let b = p.allocate().unwrap();
        p.register(a, 10, NIL);
        p.register(b, 20, NIL);
        p.release(&[a], 1, NIL);
        p.release(&[b], 1, NIL);
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

    #[test]
    fn a_finished_programs_own_blocks_are_evicted_first() {
        let mut p = BlockPool::new(3, KvEviction::Lru);
        p.track_owners();
        let (a, b) = (p.allocate().unwrap(), p.allocate().unwrap());
        p.register(a, 10, 1);
        p.register(b, 20, 2);
        assert_eq!((p.owned(1), p.owned(2)), (1, 1));
        p.release(&[b], 1, NIL);
        p.release(&[a], 1, 1);
        let _free = p.allocate().unwrap();
        assert_eq!(
            p.allocate(),
            Some(a),
            "program 1 is done: its block goes first"
        );
        assert_eq!((p.owned(1), p.owned(2)), (0, 1));
        assert_eq!(p.probe(&[20]), (1, 1));
    }
}
