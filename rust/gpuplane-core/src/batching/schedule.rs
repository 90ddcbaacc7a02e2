//! One scheduling step: serve running requests, then (unless something was preempted) admit
//! waiting ones.
//!
//! The hot loop walks the dense `running` array ([`super::seq::Run`]) and touches the request
//! slab only when a request needs new KV blocks, is admitted, preempted or registers prompt
//! blocks in the prefix cache.

use super::config::KvEviction;
use super::plan::{ScheduledRequest, StepPlan};
use super::scheduler::BatchScheduler;
use super::seq::{State, NIL};
use super::serve::Chunking;

/// What a waiting request would get if admitted now.
#[derive(Debug, Clone, Copy)]
struct Admission {
    slot: u32,
    hits: u32,
    tokens: u32,
}

/// The step being built. The positions of its entries in `running` go to
/// `BatchScheduler::last_runs`, in plan order.
#[derive(Debug)]
pub(super) struct Step {
    pub plan: StepPlan,
    pub budget: u32,
    /// Some entry was undone by a preemption.
    removed: bool,
    /// Some entry may register prompt blocks in the prefix cache.
    pub register: bool,
    /// `(slot, plan index)` of running requests that got new blocks while serving the running
    /// set: their slab block lists are extended after that loop (see `extend_grown`).
    pub grown: Vec<(u32, u32)>,
}

impl BatchScheduler {
    /// Plans the next step (see [`StepPlan`]). Running requests are served first, in their
    /// order, each catching up on its outstanding tokens within the token budget and its chunk
    /// cap; a request that needs a KV block when none is free preempts a victim (lowest band,
    /// highest counter, newest). If nothing was preempted, waiting requests are admitted in
    /// policy order while the budget, the sequence cap and the KV pool allow; when the next one
    /// does not fit the pool, the waiting request needing the fewest blocks is tried instead
    /// (backfill), so the step stays work-conserving. Under fair policies the backfilled request
    /// must belong to an account whose counter is not above the blocked head's.
    pub fn schedule(&mut self) -> StepPlan {
        self.step += 1;
        self.compact_running();
        self.last_runs.clear();
        let mut st = Step {
            plan: StepPlan {
                scheduled: Vec::with_capacity(self.max_plan_len()),
                step: self.step,
                ..StepPlan::default()
            },
            budget: self.cfg.token_budget,
            removed: false,
            register: false,
            grown: std::mem::take(&mut self.scratch_grown),
        };
        self.serve_running(&mut st);
        if st.plan.preempted.is_empty() {
            self.preempt_for_priority(&mut st);
        }
        if st.plan.preempted.is_empty() {
            self.admit_waiting(&mut st);
        }
        self.awaiting_update = true;
        self.scratch_grown = std::mem::take(&mut st.grown);
        self.finish_step(st)
    }

    /// Most entries this step's plan can have: every running request plus the admissions
    /// that the sequence cap, the waiting queue and the token budget (one token each) allow.
    /// Sizing the plan for it up front spares a copy of the whole plan when many are admitted.
    fn max_plan_len(&self) -> usize {
        let cap = (self.cfg.max_running as usize).saturating_sub(self.n_running);
        let admissions = cap
            .min(self.waiting.len())
            .min(self.cfg.token_budget as usize);
        self.n_running + admissions
    }

    /// Appends the blocks allocated while serving the running set to the requests' slab block
    /// lists. Done after that loop rather than in it: the slab entries and their lists are
    /// scattered, and here their cache misses overlap instead of stalling the loop one by one.
    pub(super) fn extend_grown(&mut self, st: &mut Step) {
        for (slot, index) in st.grown.drain(..) {
            let new_blocks = st.plan.new_blocks(index as usize);
            if let Some(seq) = &mut self.seqs[slot as usize] {
                seq.blocks.extend_from_slice(new_blocks);
            }
        }
    }

    pub(super) fn chunking(&self) -> Chunking {
        Chunking {
            cap: self.chunk_cap,
            chunked: self.cfg.chunked_prefill,
            token_budget: self.cfg.token_budget,
        }
    }

    /// Tokens a request with `outstanding` tokens gets from `budget` (0: not this step).
    fn tokens_for(&self, outstanding: u32, budget: u32) -> u32 {
        self.chunking().tokens_for(outstanding, budget)
    }

    /// Allocates the blocks the running request at `pos` needs to compute `tokens` more,
    /// preempting victims when the pool is exhausted. The blocks go to the end of the plan's
    /// block buffer; returns where they start, or `None` if it was preempted itself.
    #[cold]
    pub(super) fn grow(&mut self, pos: usize, tokens: u32, st: &mut Step) -> Option<u32> {
        let run = &self.running[pos];
        let slot = run.slot;
        let need = self
            .cfg
            .blocks_for(run.computed + tokens)
            .saturating_sub(run.nblocks);
        let at = st.plan.blocks.len();
        while ((st.plan.blocks.len() - at) as u32) < need {
            if let Some(b) = self.pool.allocate() {
                st.plan.blocks.push(b);
                continue;
            }
            let victim = self.running_idx.victim().map_or(slot, |k| k.slot);
            if victim == slot {
                // The engine never hands out the blocks of a request that is preempted.
                self.pool.unallocate(&st.plan.blocks[at..]);
                st.plan.blocks.truncate(at);
                self.preempt(slot, st);
                return None;
            }
            self.preempt(victim, st);
        }
        Some(at as u32)
    }

    /// Sends a running request back to the waiting queue (recompute), undoing its share of
    /// this step if it had one.
    fn preempt(&mut self, slot: u32, st: &mut Step) {
        let pos = self.run_pos(slot);
        // Entries of this step's plan and their positions are in the same (ascending) order.
        if let Ok(index) = self.last_runs.binary_search(&(pos as u32)) {
            let entry = &mut st.plan.scheduled[index];
            st.budget += entry.num_tokens;
            // Its blocks are released as full as the engine last computed them.
            self.running[pos].computed -= entry.num_tokens;
            entry.num_tokens = 0;
            st.removed = true;
            if !st.grown.is_empty() {
                // Still serving the running set: blocks it got this step (only a grown entry
                // has any) are not in its list yet. The engine never hands them out.
                self.pool.unallocate(st.plan.new_blocks(index));
            }
            st.plan.scheduled[index].n_new = 0;
        }
        self.stop_running_at(pos, false);
        self.enqueue(slot);
        self.preemptions += 1;
        st.plan.preempted.push(self.seq(slot).id);
    }

    /// Adds the plan entry of the running request at `pos` and advances its computed tokens
    /// and block count. Its blocks are those in the plan's block buffer from `blocks_at` to the
    /// end, the first `n_cached` of them cached. The caller adds the new ones to the slab
    /// entry's block list.
    pub(super) fn push_entry(
        &mut self,
        st: &mut Step,
        pos: usize,
        tokens: u32,
        blocks_at: u32,
        n_cached: u32,
    ) {
        let n_new = st.plan.blocks.len() as u32 - blocks_at - n_cached;
        let run = &mut self.running[pos];
        run.computed += tokens;
        run.nblocks += n_new;
        st.register |= run.computed >= run.reg_at;
        let (id, samples) = (run.id, run.computed == run.known);
        st.budget -= tokens;
        self.last_runs.push(pos as u32);
        st.plan.scheduled.push(ScheduledRequest {
            id,
            num_tokens: tokens,
            blocks_at,
            n_cached,
            n_new,
            samples,
        });
    }

    /// At the sequence cap, preempts one low-priority running request per waiting request
    /// whose priority exceeds the lowest running band by the configured gap. The waiting
    /// requests are admitted on the next step (nothing is admitted on a preempting step).
    fn preempt_for_priority(&mut self, st: &mut Step) {
        let Some(gap) = self.cfg.gap() else { return };
        let mut held = Vec::new();
        let cap = self.cfg.max_running as usize;
        while self.n_running + held.len() >= cap {
            let (Some(head), Some(low)) = (self.waiting.best(), self.running_idx.lowest_band())
            else {
                break;
            };
            let band = self.seq(head.slot).band;
            if i64::from(band) - i64::from(low) < i64::from(gap) {
                break;
            }
            let Some(victim) = self.running_idx.victim() else {
                break;
            };
            self.preempt(victim.slot, st);
            let account = self.seq(head.slot).account;
            self.waiting
                .remove(band, account, self.order_counter(account), &head);
            held.push((band, account, head));
        }
        for (band, account, key) in held {
            self.waiting
                .insert(band, account, self.order_counter(account), key);
        }
    }

    fn admit_waiting(&mut self, st: &mut Step) {
        if self.cfg.kv_eviction == KvEviction::Vllm && st.register {
            // vLLM caches a block the step that computes it: admissions may hit it already.
            self.register_planned();
        }
        self.rekey_cached_programs();
        self.rank_aged_calls();
        while st.budget > 0 && self.n_running < self.cfg.max_running as usize {
            let Some(adm) = self.next_admission(st.budget) else {
                break;
            };
            self.admit(adm, st);
            self.rekey_cached_programs();
        }
    }

    /// The policy's next waiting request if it fits; otherwise the one needing fewest blocks
    /// if that fits. A starved request (see [`BatchScheduler::starved_head`]) is never
    /// bypassed.
    fn next_admission(&self, budget: u32) -> Option<Admission> {
        if let Some(starved) = self.starved_head() {
            return self.fit(starved, budget);
        }
        let head = self.waiting.best()?.slot;
        if let Some(a) = self.fit(head, budget) {
            return Some(a);
        }
        let &(_, small) = self.need_idx.first()?;
        if small.slot == head || !self.may_backfill(head, small.slot) {
            return None;
        }
        self.fit(small.slot, budget)
    }

    /// Fair policies backfill only from accounts not ahead of the head's account, so a blocked
    /// head's account keeps its fair share (and cannot be starved by small requests).
    fn may_backfill(&self, head: u32, candidate: u32) -> bool {
        let (h, c) = (self.seq(head).account, self.seq(candidate).account);
        !self.cfg.policy.is_fair() || self.order_counter(c) <= self.order_counter(h)
    }

    /// Whether the whole of `slot`'s known tokens fit the pool above the watermark now.
    fn fit(&self, slot: u32, budget: u32) -> Option<Admission> {
        let seq = self.seq(slot);
        let known = seq.known();
        let reusable = (seq.hashes.len() as u32).min((known - 1) / self.cfg.block_size);
        let (hits, idle_hits) = self.pool.probe(&seq.hashes[..reusable as usize]);
        let need = self.cfg.blocks_for(known) - hits;
        let room = (self.pool.available() - idle_hits).saturating_sub(self.wm_blocks);
        if need > room {
            return None;
        }
        let tokens = self.tokens_for(known - hits * self.cfg.block_size, budget);
        (tokens > 0).then_some(Admission { slot, hits, tokens })
    }

    fn admit(&mut self, adm: Admission, st: &mut Step) {
        let slot = adm.slot;
        self.dequeue(slot);
        let hits = adm.hits as usize;
        let bs = self.cfg.block_size;
        let (known, most_known) = {
            let seq = self.seq(slot);
            (seq.known(), seq.prompt_len + seq.max_new - 1)
        };
        let need = self.cfg.blocks_for(known) - adm.hits;
        // Room for the blocks it holds now plus some growth, so decode rarely reallocates.
        let capacity = self
            .cfg
            .blocks_for(most_known)
            .min(self.cfg.blocks_for(known) + 64);
        let at = self.acquire_admission_blocks(slot, hits, need, &mut st.plan.blocks);
        let mut blocks = Vec::with_capacity(capacity as usize);
        blocks.extend_from_slice(&st.plan.blocks[at..at + hits]);
        let cached_tokens = adm.hits * bs;
        let seq = self.seq_mut(slot);
        seq.state = State::Running;
        seq.blocks = blocks;
        seq.computed = cached_tokens;
        seq.registered = adm.hits;
        self.index_running(slot);
        // Only the cached blocks are in its list here: `push_run` counts those, `push_entry`
        // the new ones.
        let pos = self.push_run(slot);
        let new = &st.plan.blocks[at + hits..];
        self.seq_mut(slot).blocks.extend_from_slice(new);
        self.first_admission(slot, cached_tokens);
        self.push_entry(st, pos, adm.tokens, at as u32, adm.hits);
        st.plan.admitted.push(self.running[pos].id);
        let run = &self.running[pos];
        if self.cfg.kv_eviction == KvEviction::Vllm && run.computed >= run.reg_at {
            self.register_prefix(pos);
        }
    }

    /// Appends to `out` the first `hits` prefix blocks of `slot` from the cache, then up to
    /// `need` new blocks; returns where they start in `out`.
    fn acquire_admission_blocks(
        &mut self,
        slot: u32,
        hits: usize,
        need: u32,
        out: &mut Vec<u32>,
    ) -> usize {
        let at = out.len();
        let hashes = &self.seqs[slot as usize].as_ref().expect("live").hashes[..hits];
        self.pool.acquire_cached(hashes, out);
        out.extend((0..need).map_while(|_| self.pool.allocate()));
        at
    }

    /// Records the queue time and charges the uncached prompt, once per request.
    fn first_admission(&mut self, slot: u32, cached_tokens: u32) {
        if self.seq(slot).queue_time.is_some() {
            return;
        }
        let queue_time = (self.now - self.seq(slot).arrival).max(0.0);
        self.seq_mut(slot).queue_time = Some(queue_time);
        self.queue_time_sum += queue_time;
        self.queue_time_max = self.queue_time_max.max(queue_time);
        self.note_program_wait(slot, queue_time);
        self.admitted_total += 1;
        let uncached = self.seq(slot).prompt_len.saturating_sub(cached_tokens);
        let (tenant, workflow) = (self.seq(slot).tenant, self.seq(slot).workflow);
        self.charge_tenant(tenant, uncached, 1, true);
        if workflow != NIL {
            let new = self.program_prefill(slot, cached_tokens);
            self.charge_workflow(workflow, new, true);
        }
        self.flush_counters();
    }

    /// Drops undone entries, registers computed prompt blocks in the prefix cache.
    fn finish_step(&mut self, mut st: Step) -> StepPlan {
        if st.removed {
            let mut kept = 0;
            for i in 0..st.plan.scheduled.len() {
                if st.plan.scheduled[i].num_tokens > 0 {
                    st.plan.scheduled.swap(kept, i);
                    self.last_runs[kept] = self.last_runs[i];
                    kept += 1;
                }
            }
            st.plan.scheduled.truncate(kept);
            self.last_runs.truncate(kept);
        }
        if st.register {
            self.register_planned();
        }
        self.rekey_cached_programs();
        st.plan.total_tokens = self.cfg.token_budget - st.budget;
        st.plan
    }

    /// Registers the computed prompt blocks of every request planned so far.
    fn register_planned(&mut self) {
        for i in 0..self.last_runs.len() {
            let pos = self.last_runs[i] as usize;
            let run = &self.running[pos];
            if run.slot != NIL && run.computed >= run.reg_at {
                self.register_prefix(pos);
            }
        }
    }

    /// Registers the computed prompt blocks of the running request at `pos`.
    fn register_prefix(&mut self, pos: usize) {
        let bs = self.cfg.block_size;
        let (slot, computed) = (self.running[pos].slot, self.running[pos].computed);
        let seq = self.seqs[slot as usize].as_mut().expect("live slot");
        while (seq.registered as usize) < seq.hashes.len() && (seq.registered + 1) * bs <= computed
        {
            let i = seq.registered as usize;
            self.pool
                .register(seq.blocks[i], seq.hashes[i], seq.workflow);
            seq.registered += 1;
        }
        self.running[pos].reg_at = seq.reg_at(bs);
    }
}
