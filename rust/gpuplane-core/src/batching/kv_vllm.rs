//! [`KvEviction::Vllm`] held against a model of vLLM 0.32's pool: `FreeKVCacheBlockQueue`
//! (one doubly linked queue, `popleft_n`, `remove` from the middle, `prepend_n`, `append_n`)
//! driven as `BlockPool.get_new_blocks`, `touch` and `free_blocks` drive it, where a block
//! holds a hash once vLLM caches it (every full block, also a duplicate of a cached one).
//! Over random histories of admissions with prefix hits, growth, filling and frees, both hand
//! out the same block ids in the same order, and every prompt hash the core holds is one vLLM
//! holds (the core never plans a hit vLLM lost).

use std::collections::{HashMap, VecDeque};

use proptest::prelude::*;

use super::config::KvEviction;
use super::kv::BlockPool;

/// vLLM's pool, as plainly as possible (O(n) where vLLM is O(1); only the order matters).
#[derive(Default)]
struct VllmPool {
    queue: VecDeque<u32>,
    refcount: Vec<u32>,
    hash: Vec<Option<u64>>,
    /// `cached_block_hash_to_block`: the blocks cached under a hash, the first cached first.
    cached: HashMap<u64, Vec<u32>>,
}

impl VllmPool {
    fn new(n: u32) -> Self {
        Self {
            queue: (0..n).collect(),
            refcount: vec![0; n as usize],
            hash: vec![None; n as usize],
            cached: HashMap::new(),
        }
    }

    /// `get_new_blocks`: `popleft_n`, each popped block's hash evicted.
    fn get_new_blocks(&mut self, n: usize) -> Option<Vec<u32>> {
        if n > self.queue.len() {
            return None;
        }
        let out: Vec<u32> = self.queue.drain(..n).collect();
        for &b in &out {
            if let Some(h) = self.hash[b as usize].take() {
                let blocks = self.cached.get_mut(&h).expect("cached");
                blocks.retain(|&c| c != b);
                if blocks.is_empty() {
                    self.cached.remove(&h);
                }
            }
            self.refcount[b as usize] = 1;
        }
        Some(out)
    }

    /// `touch`: a block with no reference leaves the queue (from wherever it is).
    fn touch(&mut self, blocks: &[u32]) {
        for &b in blocks {
            if self.refcount[b as usize] == 0 {
                self.queue.retain(|&q| q != b);
            }
            self.refcount[b as usize] += 1;
        }
    }

    /// `free_blocks(reversed(request blocks))`.
    fn free(&mut self, blocks: &[u32]) {
        let (mut first, mut last) = (Vec::new(), Vec::new());
        for &b in blocks.iter().rev() {
            self.refcount[b as usize] -= 1;
            if self.refcount[b as usize] == 0 {
                let to = if self.hash[b as usize].is_none() {
                    &mut first
                } else {
                    &mut last
                };
                to.push(b);
            }
        }
        for &b in first.iter().rev() {
            self.queue.push_front(b);
        }
        self.queue.extend(last);
    }

    /// `cache_full_blocks` for one block.
    fn cache(&mut self, b: u32, h: u64) {
        self.hash[b as usize] = Some(h);
        self.cached.entry(h).or_default().push(b);
    }

    /// The block a hit on `h` takes (`get_cached_block`: the first cached).
    fn hit(&self, h: u64) -> Option<u32> {
        self.cached.get(&h).map(|blocks| blocks[0])
    }
}

/// One step of a history; indices are taken modulo what exists.
#[derive(Debug, Clone)]
enum Op {
    /// A request of prompt family `family` (its blocks' hashes are `(family, i)`), hitting
    /// the family's cached prefix, then `new` new blocks.
    Admit { family: u8, new: u8 },
    /// A live request takes `n` more blocks.
    Grow { req: u8, n: u8 },
    /// A live request's next `n` blocks are full; the first `known` of them by prompt hash.
    Fill { req: u8, n: u8, known: bool },
    /// A live request finishes (or is preempted): all its blocks are released.
    Free { req: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4u8, 0..5u8).prop_map(|(family, new)| Op::Admit { family, new }),
        (any::<u8>(), 1..3u8).prop_map(|(req, n)| Op::Grow { req, n }),
        (any::<u8>(), 1..3u8, any::<bool>()).prop_map(|(req, n, known)| Op::Fill { req, n, known }),
        any::<u8>().prop_map(|req| Op::Free { req }),
    ]
}

/// A live request: its blocks (the same ids in both pools), how many are full, and its family.
struct Live {
    blocks: Vec<u32>,
    full: usize,
    family: u64,
    /// Its blocks are cached under the family's hashes (prompt) up to here; past it, under
    /// hashes of its own (output blocks, whose hashes the core is not told).
    prompt_end: usize,
}

struct Both {
    core: BlockPool,
    vllm: VllmPool,
    live: Vec<Live>,
    next_own_hash: u64,
}

/// Prompt block hashes are `>= 2^32`; output blocks' own hashes count up from 1.
fn family_hash(family: u64, i: usize) -> u64 {
    (family + 1) << 32 | i as u64
}

impl Both {
    fn admit(&mut self, family: u64, new: usize) -> Result<(), TestCaseError> {
        let hashes: Vec<u64> = (0..8).map(|i| family_hash(family, i)).collect();
        let (hits, _) = self.core.probe(&hashes);
        let hits = hits as usize;
        let model_hits = hashes
            .iter()
            .take_while(|&&h| self.vllm.hit(h).is_some())
            .count();
        prop_assert!(
            hits <= model_hits,
            "the core hits {} blocks vLLM lost",
            hits - model_hits
        );
        if new > (self.core.available() as usize).saturating_sub(hits) {
            return Ok(());
        }
        // As the adapter does: the core's hit count, vLLM's blocks.
        let mut blocks = Vec::new();
        self.core.acquire_cached(&hashes[..hits], &mut blocks);
        let touched: Vec<u32> = hashes[..hits]
            .iter()
            .filter_map(|&h| self.vllm.hit(h))
            .collect();
        prop_assert_eq!(&blocks, &touched, "prefix hit blocks");
        self.vllm.touch(&touched);
        self.grow_blocks(&mut blocks, new)?;
        self.live.push(Live {
            blocks,
            full: hits,
            family,
            prompt_end: 8,
        });
        Ok(())
    }

    fn grow_blocks(&mut self, blocks: &mut Vec<u32>, n: usize) -> Result<(), TestCaseError> {
        let Some(theirs) = self.vllm.get_new_blocks(n) else {
            prop_assert!((self.core.available() as usize) < n);
            return Ok(());
        };
        let ours: Vec<u32> = (0..n)
            .map(|_| self.core.allocate().expect("available"))
            .collect();
        prop_assert_eq!(&ours, &theirs, "blocks handed out");
        blocks.extend(ours);
        Ok(())
    }

    fn fill(&mut self, req: usize, n: usize, known: bool) {
        let l = &mut self.live[req];
        let to = (l.full + n).min(l.blocks.len());
        if !known {
            l.prompt_end = l.prompt_end.min(l.full);
        }
        for i in l.full..to {
            let b = l.blocks[i];
            let h = if i < l.prompt_end {
                family_hash(l.family, i)
            } else {
                self.next_own_hash += 1;
                self.next_own_hash
            };
            if i < l.prompt_end {
                // The family stands for the program that registered the block.
                self.core.register(b, h, l.family as u32);
            }
            self.vllm.cache(b, h);
        }
        l.full = to;
    }

    fn free(&mut self, req: usize) {
        let l = self.live.swap_remove(req);
        // As a program's last call: vLLM's order must not depend on who owned the blocks.
        self.core.release(&l.blocks, l.full as u32, l.family as u32);
        self.vllm.free(&l.blocks);
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let pick = |r: u8, n: usize| (n > 0).then(|| r as usize % n);
        match *op {
            Op::Admit { family, new } => self.admit(u64::from(family), new as usize)?,
            Op::Grow { req, n } => {
                if let Some(i) = pick(req, self.live.len()) {
                    let mut blocks = std::mem::take(&mut self.live[i].blocks);
                    self.grow_blocks(&mut blocks, n as usize)?;
                    self.live[i].blocks = blocks;
                }
            }
            Op::Fill { req, n, known } => {
                if let Some(i) = pick(req, self.live.len()) {
                    self.fill(i, n as usize, known);
                }
            }
            Op::Free { req } => {
                if let Some(i) = pick(req, self.live.len()) {
                    self.free(i);
                }
            }
        }
        self.check()
    }

    fn check(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.core.available() as usize, self.vllm.queue.len());
        for h in self.core.hashes() {
            prop_assert!(
                self.vllm.hit(h).is_some(),
                "the core holds {h:#x}, vLLM does not"
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn vllm_order_hands_out_vllms_blocks(blocks in 4..40u32, ops in prop::collection::vec(op(), 1..200)) {
        let mut core = BlockPool::new(blocks, KvEviction::Vllm);
        core.track_owners();
        let mut both = Both {
            core,
            vllm: VllmPool::new(blocks),
            live: Vec::new(),
            next_own_hash: 0,
        };
        for op in &ops {
            both.apply(op)?;
        }
        while !both.live.is_empty() {
            both.free(0);
            both.check()?;
        }
        prop_assert_eq!(both.core.used(), 0);
    }
}
