//! `program_las`'s program state: tenants by weighted fair share, programs inside a tenant by
//! least attained service, and a starvation bound per program.
//!
//! * Ordering: the waiting ladder's accounts are tenants (Virtual Token Counter, lifted as in
//!   `fair`); inside a tenant, a call's key is its program's attained service (weighted tokens
//!   over all its calls, never lifted), then arrival. When a program is charged, its waiting
//!   calls are re-keyed (a program usually has none waiting while one of its calls runs).
//! * Starvation bound, a ratio (after Autellix's anti-starvation rule, which promotes a
//!   program whose waiting time over its service time passes a threshold): with `W` what a
//!   program's calls waited (arrival to first admission, summed), `S` the seconds its
//!   finished calls ran (first admission to finish, summed), `beta` =
//!   [`super::BatchConfig::starvation_ratio`] and `c` = [`super::BatchConfig::starvation_s`]
//!   (the grace of a program that has not run yet) and `A = c + beta * S` its allowance, a
//!   waiting call *ages* once `W + (now - arrival) > A`, i.e. at `arrival + A - W`, and is
//!   *starved* at `arrival + 2A - W`. An aged call ranks as a program with no service (rank 0,
//!   then arrival, inside its band and its tenant's fair share), so it goes before every
//!   program that attained service but not before single calls and new programs of its tenant
//!   that arrived before it. Starved calls go before everything else, earliest first, and
//!   nothing is backfilled past the first one. So a program's total wait stays within `2A`
//!   plus the time its starved call waits at the head for room (at most until the running
//!   calls before it finish): the bound scales with the program's own service, not with the
//!   load. Why two stages: with starved calls first at `A`, a burst of programs reaching
//!   their allowance together took every free slot and left single calls waiting `A` until
//!   they starved too (single calls' p99 2.5x fcfs's on one draw of the agent bench); aged
//!   calls interleave with them in arrival order instead (BENCHMARKS.md, "Other draws of the
//!   mix").
//! * Cache-aware rank, with `alpha` = [`super::BatchConfig::cache_discount`] > 0 (default 0.75):
//!   a waiting call's key is `max(0, A - alpha * w_in * K)`, `A` its program's attained
//!   service and `K` the tokens of the cached prefix blocks its program registered (at most
//!   the call's known tokens), i.e. roughly the service its program got that a cache miss
//!   would make it pay again. A long program's next call whose context is still cached then
//!   goes before it is evicted; as its blocks are evicted its key rises back to `A`. The pool
//!   counts each program's cached blocks as they are registered and evicted (`kv_owners.rs`,
//!   O(1) per block), and the waiting calls of a program whose count moved are re-keyed
//!   between admissions: no waiting call scans the pool. Two more rules come with it: the
//!   hashed prompt blocks of a program's previous call that a call repeats (its context,
//!   recomputed after an eviction) are not charged to the program's attained service again
//!   (the tenant's counter still is), and a program's last call releases the blocks
//!   its program registered to the head of the LRU list (nobody will ask for that context;
//!   under [`super::KvEviction::Vllm`] the pool mirrors vLLM's and keeps its order).
//!   The starvation bound does not depend on the key, so it holds as stated.
//! * Fleet: [`BatchScheduler::program_history`] and [`BatchScheduler::set_program_history`]
//!   carry a program's attained service and waiting from the replica that served its last
//!   call to the one that gets the next, so its rank is fleet-wide (Autellix keeps it global).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::config::Policy;
use super::queue::{OrdF64, QKey};
use super::scheduler::BatchScheduler;
use crate::error::{Error, Result};

/// A program's state as one replica knows it: what its calls attained and waited so far.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ProgramHistory {
    /// Weighted tokens served over the program's calls (`w_in` per prefill token, `w_out`
    /// per generated token).
    pub attained: f64,
    /// Seconds its calls waited from arrival to first admission, summed.
    pub waited_s: f64,
    /// Seconds its finished calls ran (first admission to finish), summed.
    #[serde(default)]
    pub served_s: f64,
}

/// Per-program (workflow account) state kept under `program_las`.
#[derive(Debug, Default)]
pub(crate) struct ProgramBook {
    /// Queue time summed over the program's admitted calls, per workflow account.
    waited: Vec<f64>,
    /// Run time (first admission to finish) summed over the program's finished calls.
    served: Vec<f64>,
    /// Slots of the program's waiting calls, per workflow account.
    waiting: Vec<Vec<u32>>,
    /// Waiting calls by the time they become starved (`Seq::starve_at`), then arrival.
    pub by_starvation: BTreeSet<QKey>,
    /// Waiting calls not yet ranked as aged, by the time they age (`Seq::aged_at`).
    by_aging: BTreeSet<QKey>,
    /// Reused buffer: accounts whose cached blocks moved (see `rekey_cached_programs`).
    cache_moved: Vec<u32>,
    /// The hashed prompt blocks of the program's last admitted call: context it was charged for.
    context: Vec<ChargedContext>,
}

/// A prompt's hashed blocks, told apart by their count and the last one's hash (a block hash
/// names its whole prefix).
#[derive(Debug, Clone, Copy, Default)]
struct ChargedContext {
    blocks: u32,
    last_hash: u64,
}

impl ChargedContext {
    fn of(hashes: &[u64]) -> Self {
        Self {
            blocks: hashes.len() as u32,
            last_hash: hashes.last().copied().unwrap_or(0),
        }
    }

    /// Blocks of `hashes` that repeat this context (all of it or none).
    fn repeated_in(self, hashes: &[u64]) -> u32 {
        let at = self.blocks as usize;
        let repeats = at > 0 && hashes.len() >= at && hashes[at - 1] == self.last_hash;
        if repeats {
            self.blocks
        } else {
            0
        }
    }
}

impl ProgramBook {
    /// Makes room for workflow account `a` (new or recycled) with nothing waited.
    pub fn reset(&mut self, a: u32) {
        let i = a as usize;
        if self.waited.len() <= i {
            self.waited.resize(i + 1, 0.0);
            self.served.resize(i + 1, 0.0);
            self.waiting.resize_with(i + 1, Vec::new);
            self.context.resize(i + 1, ChargedContext::default());
        }
        self.waited[i] = 0.0;
        self.served[i] = 0.0;
        self.context[i] = ChargedContext::default();
    }

    /// Seconds program `a`'s admitted calls waited.
    pub fn waited(&self, a: u32) -> f64 {
        self.waited[a as usize]
    }

    /// Seconds program `a`'s finished calls ran.
    pub fn served(&self, a: u32) -> f64 {
        self.served[a as usize]
    }
}

impl BatchScheduler {
    /// The starvation key of the waiting call in `slot`.
    fn starvation_key(&self, slot: u32) -> QKey {
        let seq = self.seq(slot);
        QKey::new(OrdF64(seq.starve_at), seq.arrival, seq.id, slot)
    }

    /// The aging key of the waiting call in `slot`.
    fn aging_key(&self, slot: u32) -> QKey {
        let seq = self.seq(slot);
        QKey::new(OrdF64(seq.aged_at), seq.arrival, seq.id, slot)
    }

    /// A new call of program `workflow`: when it ages (its program's calls will have waited
    /// the allowance `c + beta * S`) and when it becomes starved (twice the allowance).
    pub(crate) fn starvation_times(&self, workflow: u32, arrival: f64) -> (f64, f64) {
        let allowance =
            self.cfg.starvation_s + self.cfg.starvation_ratio * self.programs.served(workflow);
        let waited = self.programs.waited(workflow);
        (
            arrival + allowance - waited,
            arrival + 2.0 * allowance - waited,
        )
    }

    /// A waiting call's rank inside its tenant: its program's attained service, less the
    /// prefill its program's cached blocks would spare it (see the module docs).
    fn call_rank(&self, slot: u32) -> f64 {
        let seq = self.seq(slot);
        if seq.aged_at <= self.now {
            return 0.0;
        }
        let attained = self.workflows.counter(seq.workflow);
        let owned = f64::from(self.pool.owned(seq.workflow));
        let cached = (owned * f64::from(self.cfg.block_size)).min(f64::from(seq.known()));
        (attained - self.cfg.cache_discount * self.cfg.w_in * cached).max(0.0)
    }

    /// Prompt tokens of a call admitted with `cached_tokens` cached that its program's
    /// attained service is charged: under cache-aware ranking not the hashed blocks of its
    /// program's previous call that its prompt repeats (recomputing an evicted context is the
    /// cache's doing, not more service the program asked for). Remembers this call's blocks.
    pub(crate) fn program_prefill(&mut self, slot: u32, cached_tokens: u32) -> u32 {
        let seq = self.seqs[slot as usize].as_ref().expect("live slot");
        let prompt = seq.prompt_len;
        if !self.cfg.cache_aware() {
            return prompt.saturating_sub(cached_tokens);
        }
        let context = &mut self.programs.context[seq.workflow as usize];
        let repeated = context.repeated_in(&seq.hashes) * self.cfg.block_size;
        *context = ChargedContext::of(&seq.hashes);
        prompt.saturating_sub(cached_tokens.max(repeated))
    }

    /// Ranks a call being queued by its program's attained service and tracks it.
    pub(crate) fn track_program_call(&mut self, slot: u32) {
        let workflow = self.seq(slot).workflow;
        let rank = self.call_rank(slot);
        self.seq_mut(slot).rank = rank;
        self.programs.waiting[workflow as usize].push(slot);
        let key = self.starvation_key(slot);
        self.programs.by_starvation.insert(key);
        let key = self.aging_key(slot);
        self.programs.by_aging.insert(key);
    }

    /// Stops tracking a call leaving the waiting queue.
    pub(crate) fn untrack_program_call(&mut self, slot: u32) {
        let key = self.starvation_key(slot);
        self.programs.by_starvation.remove(&key);
        let key = self.aging_key(slot);
        self.programs.by_aging.remove(&key);
        let workflow = self.seq(slot).workflow as usize;
        let list = &mut self.programs.waiting[workflow];
        let at = list.iter().position(|&s| s == slot).expect("tracked call");
        list.swap_remove(at);
    }

    /// Adds a call's queue time to its program's waiting (at its first admission).
    pub(crate) fn note_program_wait(&mut self, slot: u32, queue_time: f64) {
        if self.cfg.policy == Policy::ProgramLas {
            let workflow = self.seq(slot).workflow as usize;
            self.programs.waited[workflow] += queue_time;
        }
    }

    /// Adds a finished call's run time (first admission to now) to its program's service.
    pub(crate) fn note_program_service(&mut self, slot: u32) {
        let seq = self.seq(slot);
        if self.cfg.policy != Policy::ProgramLas || seq.workflow == super::seq::NIL {
            return;
        }
        let Some(q) = seq.queue_time else { return };
        let ran = (self.now - seq.arrival - q).max(0.0);
        let workflow = seq.workflow as usize;
        self.programs.served[workflow] += ran;
    }

    /// Re-keys the waiting calls of programs whose attained service moved.
    pub(crate) fn rekey_programs(&mut self, moved: &[(u32, f64, f64)]) {
        for &(a, _, _) in moved {
            let slots = std::mem::take(&mut self.programs.waiting[a as usize]);
            for &slot in &slots {
                self.rekey_call(slot);
            }
            self.programs.waiting[a as usize] = slots;
        }
    }

    /// Re-keys the waiting calls of programs whose cached blocks were registered or evicted
    /// since the last call (cache-aware rank only; nothing to do otherwise).
    pub(crate) fn rekey_cached_programs(&mut self) {
        if !self.cfg.cache_aware() {
            return;
        }
        let mut changed = std::mem::take(&mut self.programs.cache_moved);
        self.pool.drain_owner_changes(&mut changed);
        for &a in &changed {
            let Some(list) = self.programs.waiting.get_mut(a as usize) else {
                continue;
            };
            let slots = std::mem::take(list);
            for &slot in &slots {
                self.rekey_call(slot);
            }
            self.programs.waiting[a as usize] = slots;
        }
        changed.clear();
        self.programs.cache_moved = changed;
    }

    /// Ranks every waiting call that has aged since the last step as a program with no
    /// service (each call once: it leaves the aging set).
    pub(crate) fn rank_aged_calls(&mut self) {
        while let Some(key) = self.programs.by_aging.first().copied() {
            if self.seq(key.slot).aged_at > self.now {
                break;
            }
            self.programs.by_aging.remove(&key);
            self.rekey_call(key.slot);
        }
    }

    /// Moves a waiting call to its current rank.
    fn rekey_call(&mut self, slot: u32) {
        let rank = self.call_rank(slot);
        if rank == self.seq(slot).rank {
            return;
        }
        let old = self.rank_key(slot);
        let seq = self.seq(slot);
        let (band, account, need) = (seq.band, seq.account, seq.need);
        let counter = self.order_counter(account);
        self.waiting.remove(band, account, counter, &old);
        self.need_idx.remove(&(need, old));
        self.seq_mut(slot).rank = rank;
        let new = self.rank_key(slot);
        self.waiting.insert(band, account, counter, new);
        self.need_idx.insert((need, new));
    }

    /// A waiting call's key inside its tenant: its program's rank, then arrival.
    pub(crate) fn rank_key(&self, slot: u32) -> QKey {
        let seq = self.seq(slot);
        QKey::new(OrdF64(seq.rank), seq.arrival, seq.id, slot)
    }

    /// Under [`Policy::ProgramLas`], the waiting call that became starved first, if any:
    /// it goes before every other request, whatever its band, tenant or program's service,
    /// and nothing is backfilled past it while it does not fit.
    pub(crate) fn starved_head(&self) -> Option<u32> {
        let key = self.programs.by_starvation.first()?;
        (self.now >= self.seq(key.slot).starve_at).then_some(key.slot)
    }

    /// Program `workflow`'s attained service and waiting on this replica (`None`: unknown
    /// here, or a policy other than `program_las`).
    pub fn program_history(&self, workflow: u64) -> Option<ProgramHistory> {
        if self.cfg.policy != Policy::ProgramLas {
            return None;
        }
        let a = self.named_workflow(workflow)?;
        Some(ProgramHistory {
            attained: self.workflows.counter(a),
            waited_s: self.programs.waited(a),
            served_s: self.programs.served(a),
        })
    }

    /// Raises program `workflow`'s attained service, waiting and service time here to at least
    /// `h` (what the fleet knows of it, e.g. from the replica that served its last call), so
    /// that its next call here keeps its rank and its starvation budget. Requires
    /// `program_las`; each figure must be finite and >= 0.
    pub fn set_program_history(&mut self, workflow: u64, h: ProgramHistory) -> Result<()> {
        if self.cfg.policy != Policy::ProgramLas {
            let why = format!("program history needs program_las, not {}", self.cfg.policy);
            return Err(Error::invalid("policy", why));
        }
        non_negative("attained", h.attained)?;
        non_negative("waited_s", h.waited_s)?;
        non_negative("served_s", h.served_s)?;
        let a = self.program_account(workflow);
        let w = &mut self.programs.waited[a as usize];
        *w = w.max(h.waited_s);
        let s = &mut self.programs.served[a as usize];
        *s = s.max(h.served_s);
        let attained = self.workflows.counter(a).max(h.attained);
        self.workflows.set_counter(a, attained);
        self.flush_counters();
        Ok(())
    }
}

fn non_negative(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!("must be finite and >= 0, got {v}"),
    ))
}
