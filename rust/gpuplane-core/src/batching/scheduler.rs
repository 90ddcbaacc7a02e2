//! The scheduler's state and its request-level operations (add, abort, clock, queries).
//! Steps live in `schedule.rs` and `update.rs`, metrics in `metrics.rs`.

use std::collections::{BTreeMap, BTreeSet};

use super::config::{BatchConfig, Policy};
use super::hash::{FxHashMap, FxHashSet};
use super::kv::BlockPool;
use super::program_memory::IdlePrograms;
use super::programs::ProgramBook;
use super::queue::{Ladder, QKey};
use super::request::{Request, RequestProgress};
use super::seq::{Run, Seq, State, NIL};
use super::serve::Pending;
use super::tally::add_repeated;
use super::tenancy::PolicyLink;
use super::update::Credits;
use super::vtc::CounterBook;
use crate::error::{Error, Result};

/// Service received by one tenant (unweighted tokens and weighted charge).
#[derive(Debug, Clone, Default)]
pub(crate) struct TenantStats {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub service: f64,
}

/// Continuous-batching scheduler of one engine replica. See the [module docs](super).
///
/// Time: the scheduler does not read a clock. The caller sets it with
/// [`BatchScheduler::set_time`] (seconds, same scale as request arrivals) before calling
/// [`BatchScheduler::schedule`]; it is used for queue times only.
#[derive(Debug)]
pub struct BatchScheduler {
    pub(crate) cfg: BatchConfig,
    pub(crate) wm_blocks: u32,
    /// `cfg.chunk_cap()`, cached for the hot loop.
    pub(crate) chunk_cap: u32,
    pub(crate) now: f64,
    pub(crate) step: u64,
    pub(crate) awaiting_update: bool,
    pub(crate) seqs: Vec<Option<Seq>>,
    free_slots: Vec<u32>,
    pub(crate) by_id: FxHashMap<u64, u32>,
    pub(crate) pool: BlockPool,
    pub(crate) waiting: Ladder,
    pub(crate) running_idx: Ladder,
    pub(crate) need_idx: BTreeSet<(u32, QKey)>,
    /// Program state under [`Policy::ProgramLas`] (waiting per program, starvation order).
    pub(crate) programs: ProgramBook,
    /// Running requests' per-step state in running order, with holes (see [`Run`]).
    pub(crate) running: Vec<Run>,
    /// Admission stamp of each entry of `running`, at the same position: strictly increasing,
    /// so a slot's entry is found by binary search.
    pub(crate) run_stamps: Vec<u64>,
    /// Live (non-hole) entries of `running`.
    pub(crate) n_running: usize,
    /// Holes in `running`.
    pub(crate) holes: usize,
    /// Next admission stamp.
    pub(crate) next_stamp: u64,
    /// Positions in `running` of the last plan's entries, in plan order (used by `update`).
    pub(crate) last_runs: Vec<u32>,
    /// Reused buffers of `update`: credited tokens, checked `(position, generated)` pairs and
    /// stopped positions.
    pub(crate) scratch_credits: Credits,
    pub(crate) scratch_generated: Vec<(u32, u32)>,
    pub(crate) scratch_stopped: Vec<u32>,
    /// Reused buffer of `schedule`: plain plan entries not yet moved into the plan.
    pub(crate) scratch_entries: Vec<Pending>,
    /// Reused buffer of `schedule`: running requests that got new blocks (see `extend_grown`).
    pub(crate) scratch_grown: Vec<(u32, u32)>,
    /// Reused buffer of `update`: tenant charge runs being applied.
    pub(crate) scratch_runs: Vec<(u32, u32, u32)>,
    pub(crate) tenant_names: Vec<String>,
    tenant_by_name: BTreeMap<String, u32>,
    pub(crate) tenant_stats: Vec<TenantStats>,
    pub(crate) tenants: CounterBook,
    pub(crate) workflows: CounterBook,
    wf_by_id: FxHashMap<u64, u32>,
    /// Each workflow account's workflow id (`None`: an anonymous, single-call workflow).
    wf_ids: Vec<Option<u64>>,
    /// Live (queued or running) calls per workflow account.
    wf_live: Vec<u32>,
    /// Recycled workflow accounts.
    wf_free: Vec<u32>,
    /// Named workflows with no live call, least recently active first.
    wf_idle: IdlePrograms,
    /// Workflow accounts created or recycled so far (each one's tie stamp in the ladders).
    wf_created: u64,
    moved: Vec<(u32, f64, f64)>,
    pub(crate) preemptions: u64,
    pub(crate) admitted_total: u64,
    pub(crate) finished_total: u64,
    pub(crate) queue_time_sum: f64,
    pub(crate) queue_time_max: f64,
    /// The shared policy engine, if attached (see `tenancy.rs`).
    pub(crate) link: Option<PolicyLink>,
}

impl BatchScheduler {
    /// A scheduler for `cfg`; declared tenants are interned in name order.
    pub fn new(cfg: BatchConfig) -> Result<Self> {
        cfg.validate()?;
        let workflows = if cfg.policy == Policy::ProgramLas {
            CounterBook::attained()
        } else {
            CounterBook::default()
        };
        let mut s = Self {
            wm_blocks: cfg.watermark_blocks(),
            chunk_cap: cfg.chunk_cap(),
            pool: BlockPool::new(cfg.kv_blocks, cfg.kv_eviction),
            cfg,
            now: 0.0,
            step: 0,
            awaiting_update: false,
            seqs: Vec::new(),
            free_slots: Vec::new(),
            by_id: FxHashMap::default(),
            waiting: Ladder::default(),
            running_idx: Ladder::default(),
            need_idx: BTreeSet::new(),
            programs: ProgramBook::default(),
            running: Vec::new(),
            run_stamps: Vec::new(),
            n_running: 0,
            holes: 0,
            next_stamp: 0,
            last_runs: Vec::new(),
            scratch_credits: Credits::default(),
            scratch_generated: Vec::new(),
            scratch_stopped: Vec::new(),
            scratch_entries: Vec::new(),
            scratch_grown: Vec::new(),
            scratch_runs: Vec::new(),
            tenant_names: Vec::new(),
            tenant_by_name: BTreeMap::new(),
            tenant_stats: Vec::new(),
            tenants: CounterBook::default(),
            workflows,
            wf_by_id: FxHashMap::default(),
            wf_ids: Vec::new(),
            wf_live: Vec::new(),
            wf_free: Vec::new(),
            wf_idle: IdlePrograms::default(),
            wf_created: 0,
            moved: Vec::new(),
            preemptions: 0,
            admitted_total: 0,
            finished_total: 0,
            queue_time_sum: 0.0,
            queue_time_max: 0.0,
            link: None,
        };
        if s.cfg.cache_aware() {
            s.pool.track_owners();
        }
        let declared: Vec<(String, f64)> = s
            .cfg
            .tenant_weights
            .iter()
            .map(|(k, &w)| (k.clone(), w))
            .collect();
        for (name, w) in declared {
            s.intern_tenant(&name, w);
        }
        Ok(s)
    }

    /// The configuration.
    pub fn config(&self) -> &BatchConfig {
        &self.cfg
    }

    /// The scheduler clock (seconds).
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Sets the clock; `now` must be finite and not earlier than the current time.
    pub fn set_time(&mut self, now: f64) -> Result<()> {
        if !now.is_finite() || now < self.now {
            return Err(Error::invalid(
                "now",
                format!("must be finite and >= {}, got {now}", self.now),
            ));
        }
        self.now = now;
        Ok(())
    }

    /// Moves the clock forward to `now` (finite); an earlier `now` leaves it where it is, for
    /// engines that read a wall clock which may step back.
    pub fn advance_clock(&mut self, now: f64) -> Result<()> {
        if !now.is_finite() {
            return Err(Error::invalid("now", format!("must be finite, got {now}")));
        }
        self.now = self.now.max(now);
        Ok(())
    }

    /// Number of running requests.
    pub fn num_running(&self) -> usize {
        self.n_running
    }

    /// Number of waiting requests (new and preempted).
    pub fn num_waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Whether `id` is known (waiting or running).
    pub fn contains(&self, id: u64) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Progress of a live request.
    pub fn progress(&self, id: u64) -> Option<RequestProgress> {
        let slot = *self.by_id.get(&id)?;
        let s = self.seq(slot);
        if s.state == State::Running {
            let r = &self.running[self.run_pos(slot)];
            return Some(RequestProgress {
                computed: r.computed,
                generated: r.known - s.prompt_len,
                known: r.known,
                running: true,
            });
        }
        Some(RequestProgress {
            computed: s.computed,
            generated: s.generated,
            known: s.known(),
            running: false,
        })
    }

    /// Reference count of a KV block (`None` if out of range).
    pub fn block_refcount(&self, block: u32) -> Option<u32> {
        (block < self.pool.total()).then(|| self.pool.refcount(block))
    }

    /// Hashes of the prompt blocks in the KV pool (held or cached-free), ascending: what a
    /// replica reports to a router as its prefix cache.
    pub fn cached_block_hashes(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self.pool.hashes().collect();
        out.sort_unstable();
        out
    }

    /// Starts (or stops) recording changes to the cached block hashes, for a router that
    /// follows this engine's prefix cache by events rather than full reports.
    pub fn record_cache_events(&mut self, on: bool) {
        self.pool.record_events(on);
    }

    /// Moves the cache events recorded since the last call into `out` (none unless recording).
    pub fn drain_cache_events(&mut self, out: &mut Vec<super::CacheEvent>) {
        self.pool.drain_events(out);
    }

    /// Sets `tenant`'s fair-share counter (weighted service / weight) to `counter`, e.g. to
    /// the fleet-wide counter of [`crate::routing::FleetShare`], so that this engine orders
    /// tenants by their service across the fleet; `NotFound` for a tenant it does not know.
    pub fn set_tenant_counter(&mut self, tenant: &str, counter: f64) -> Result<()> {
        let a = *self
            .tenant_by_name
            .get(tenant)
            .ok_or_else(|| Error::not_found("tenant", tenant))?;
        self.tenants.set_counter(a, counter);
        self.flush_counters();
        Ok(())
    }

    /// KV block ids held by a live request, in order.
    pub fn blocks_of(&self, id: u64) -> Option<&[u32]> {
        Some(&self.seq(*self.by_id.get(&id)?).blocks)
    }

    /// Queue time (arrival to first admission) of a live request that has been admitted.
    pub fn queue_time(&self, id: u64) -> Option<f64> {
        self.seq(*self.by_id.get(&id)?).queue_time
    }

    /// Ids of running requests in their scheduling order.
    pub fn running_ids(&self) -> Vec<u64> {
        self.running
            .iter()
            .filter(|r| r.slot != NIL)
            .map(|r| r.id)
            .collect()
    }

    /// Adds one request to the waiting queue. On error nothing changes.
    pub fn add(&mut self, req: Request) -> Result<()> {
        self.check_request(&req)?;
        self.insert(req);
        Ok(())
    }

    /// Adds all requests, or none if any is bad; the error names the index (`reqs[i]`).
    pub fn add_many(&mut self, reqs: Vec<Request>) -> Result<()> {
        let mut seen = FxHashSet::default();
        for (i, r) in reqs.iter().enumerate() {
            self.check_request(r).map_err(|e| at_index(e, i))?;
            if !seen.insert(r.id) {
                return Err(Error::Conflict(format!(
                    "reqs[{i}]: duplicate id {} in batch",
                    r.id
                )));
            }
        }
        for r in reqs {
            self.insert(r);
        }
        Ok(())
    }

    /// Removes a waiting or running request and frees its KV. Unknown id: `NotFound`.
    pub fn abort(&mut self, id: u64) -> Result<()> {
        let slot = *self
            .by_id
            .get(&id)
            .ok_or_else(|| Error::not_found("request", id.to_string()))?;
        if self.seq(slot).state == State::Waiting {
            self.dequeue(slot);
        } else {
            let pos = self.run_pos(slot);
            self.stop_running_at(pos, false);
        }
        self.remove_seq(slot);
        Ok(())
    }

    fn check_request(&self, req: &Request) -> Result<()> {
        req.check(&self.cfg)?;
        if self.by_id.contains_key(&req.id) {
            return Err(Error::Conflict(format!("duplicate request id {}", req.id)));
        }
        if !self.cfg.tenant_weights.is_empty() && !self.tenant_by_name.contains_key(&req.tenant) {
            return Err(Error::invalid(
                "tenant",
                format!("unknown tenant {:?}", req.tenant),
            ));
        }
        self.check_linked_tenant(&req.tenant)
    }

    fn insert(&mut self, req: Request) {
        let tenant = match self.tenant_by_name.get(&req.tenant) {
            Some(&t) => t,
            None => self.intern_tenant(&req.tenant, self.linked_weight(&req.tenant)),
        };
        let workflow = self.workflow_account(req.workflow, tenant);
        self.note_live_call(workflow);
        let account = match self.cfg.policy {
            Policy::Fair | Policy::ProgramLas => tenant,
            Policy::WorkflowFair => workflow,
            _ => 0,
        };
        let band = if self.cfg.policy == Policy::Fcfs {
            0
        } else {
            req.priority
        };
        let slot = self.alloc_slot();
        self.by_id.insert(req.id, slot);
        let mut seq = Seq::new(req, tenant, account, workflow, band);
        if self.cfg.policy == Policy::ProgramLas {
            (seq.aged_at, seq.starve_at) = self.starvation_times(workflow, seq.arrival);
        }
        self.seqs[slot as usize] = Some(seq);
        self.enqueue(slot);
    }

    fn intern_tenant(&mut self, name: &str, weight: f64) -> u32 {
        let t = self.tenants.add_account(weight);
        self.tenant_by_name.insert(name.to_string(), t);
        self.tenant_names.push(name.to_string());
        self.tenant_stats.push(TenantStats::default());
        t
    }

    fn workflow_account(&mut self, workflow: Option<u64>, tenant: u32) -> u32 {
        if !self.cfg.policy.per_workflow() {
            return NIL;
        }
        // Under program_las programs only compete inside their tenant: unweighted counters.
        let weight = match self.cfg.policy {
            Policy::ProgramLas => 1.0,
            _ => self.tenants.weight(tenant),
        };
        match workflow {
            Some(w) => self.named_account(w, weight),
            None => self.fresh_workflow(None, weight),
        }
    }

    /// A fresh workflow account (recycled if one is free) for workflow id `id`.
    fn fresh_workflow(&mut self, id: Option<u64>, weight: f64) -> u32 {
        let a = match self.wf_free.pop() {
            Some(a) => {
                self.workflows.reset_account(a, weight);
                a
            }
            None => {
                self.wf_ids.push(None);
                self.wf_live.push(0);
                self.workflows.add_account(weight)
            }
        };
        self.programs.reset(a);
        self.pool.disown(a);
        self.wf_ids[a as usize] = id;
        self.stamp_workflow(a);
        a
    }

    /// Under `workflow_fair` (whose ladders order workflow accounts), ties between workflows
    /// at one counter go to the older one, whatever index it reuses.
    fn stamp_workflow(&mut self, a: u32) {
        if self.cfg.policy != Policy::WorkflowFair {
            return;
        }
        let stamp = self.wf_created;
        self.wf_created += 1;
        self.waiting.set_tie(a, stamp);
        self.running_idx.set_tie(a, stamp);
    }

    /// The account of workflow `w`, added with `weight` if new (idle until a call of it is
    /// queued).
    fn named_account(&mut self, w: u64, weight: f64) -> u32 {
        if let Some(&a) = self.wf_by_id.get(&w) {
            return a;
        }
        let a = self.fresh_workflow(Some(w), weight);
        self.wf_by_id.insert(w, a);
        self.park_workflow(a);
        a
    }

    /// Counts a new live call of workflow account `a` (`NIL`: none).
    fn note_live_call(&mut self, a: u32) {
        if a == NIL {
            return;
        }
        self.wf_live[a as usize] += 1;
        self.wf_idle.unpark(a);
    }

    /// Counts a live call of workflow account `a` gone; frees `a` when nothing can need it:
    /// at once if anonymous or its program's last call left (`last`), else past the
    /// idle-program cap.
    fn note_call_gone(&mut self, a: u32, last: bool) {
        let live = &mut self.wf_live[a as usize];
        *live -= 1;
        if *live > 0 {
            return;
        }
        match self.wf_ids[a as usize].take() {
            Some(id) if !last => {
                self.wf_ids[a as usize] = Some(id);
                self.park_workflow(a);
            }
            Some(id) => {
                self.wf_by_id.remove(&id);
                self.wf_free.push(a);
            }
            None => self.wf_free.push(a),
        }
    }

    /// Marks named workflow account `a` idle and forgets the programs idle past the cap.
    fn park_workflow(&mut self, a: u32) {
        self.wf_idle.park(a);
        while let Some(old) = self.wf_idle.over_cap(self.cfg.idle_programs) {
            let id = self.wf_ids[old as usize].take().expect("named workflow");
            self.wf_by_id.remove(&id);
            self.wf_free.push(old);
        }
    }

    /// Named programs this scheduler remembers: those with a call queued or running, plus at
    /// most [`BatchConfig::idle_programs`] idle ones (0 for policies not per workflow).
    pub fn known_programs(&self) -> usize {
        self.wf_by_id.len()
    }

    /// The account of a named workflow, if this scheduler has seen it.
    pub(crate) fn named_workflow(&self, w: u64) -> Option<u32> {
        self.wf_by_id.get(&w).copied()
    }

    /// The account of program `w` under `program_las` (unweighted), added if new.
    pub(crate) fn program_account(&mut self, w: u64) -> u32 {
        self.named_account(w, 1.0)
    }

    fn alloc_slot(&mut self) -> u32 {
        if let Some(s) = self.free_slots.pop() {
            return s;
        }
        self.seqs.push(None);
        (self.seqs.len() - 1) as u32
    }

    /// Forgets a request that is neither waiting nor running.
    pub(crate) fn remove_seq(&mut self, slot: u32) {
        self.note_program_service(slot);
        let seq = self.seqs[slot as usize].take().expect("live slot");
        self.by_id.remove(&seq.id);
        self.free_slots.push(slot);
        if seq.workflow != NIL {
            self.note_call_gone(seq.workflow, seq.last_call);
        }
    }

    /// The live request in `slot`.
    pub(crate) fn seq(&self, slot: u32) -> &Seq {
        self.seqs[slot as usize].as_ref().expect("live slot")
    }

    /// The live request in `slot`, mutably.
    pub(crate) fn seq_mut(&mut self, slot: u32) -> &mut Seq {
        self.seqs[slot as usize].as_mut().expect("live slot")
    }

    /// Counter of an ordering account as held in the ladders (0 for non-fair policies).
    pub(crate) fn order_counter(&self, account: u32) -> f64 {
        match self.cfg.policy {
            Policy::Fair | Policy::ProgramLas => self.tenants.keyed(account),
            Policy::WorkflowFair => self.workflows.keyed(account),
            _ => 0.0,
        }
    }

    fn waiting_key(&self, slot: u32) -> QKey {
        let seq = self.seq(slot);
        match self.cfg.policy {
            Policy::Deadline => seq.deadline_key(slot),
            Policy::ProgramLas => self.rank_key(slot),
            _ => seq.fcfs_key(slot),
        }
    }

    /// Puts a request (new or preempted) into the waiting queue and the need index.
    pub(crate) fn enqueue(&mut self, slot: u32) {
        let (tenant, workflow) = (self.seq(slot).tenant, self.seq(slot).workflow);
        let lift = self.tenants.enqueue(tenant);
        if self.tenant_ordered() {
            self.recount_ladders(tenant, lift);
        }
        if workflow != NIL {
            let lift = self.workflows.enqueue(workflow);
            if self.cfg.policy == Policy::WorkflowFair {
                self.recount_ladders(workflow, lift);
            }
        }
        if self.cfg.policy == Policy::ProgramLas {
            self.track_program_call(slot);
        }
        let need = self.cfg.blocks_for(self.seq(slot).known());
        let key = self.waiting_key(slot);
        let (band, account) = (self.seq(slot).band, self.seq(slot).account);
        self.waiting
            .insert(band, account, self.order_counter(account), key);
        self.need_idx.insert((need, key));
        self.seq_mut(slot).need = need;
        self.seq_mut(slot).state = State::Waiting;
    }

    /// Takes a waiting request out of the waiting queue and the need index.
    pub(crate) fn dequeue(&mut self, slot: u32) {
        let key = self.waiting_key(slot);
        let seq = self.seq(slot);
        let (band, account, need, tenant, workflow) =
            (seq.band, seq.account, seq.need, seq.tenant, seq.workflow);
        self.waiting
            .remove(band, account, self.order_counter(account), &key);
        self.need_idx.remove(&(need, key));
        if self.cfg.policy == Policy::ProgramLas {
            self.untrack_program_call(slot);
        }
        self.tenants.dequeue(tenant);
        if workflow != NIL {
            self.workflows.dequeue(workflow);
        }
    }

    fn recount_ladders(&mut self, account: u32, lift: Option<(f64, f64)>) {
        if let Some((old, new)) = lift {
            self.waiting.recount(account, old, new);
            self.running_idx.recount(account, old, new);
        }
    }

    /// Adds a running request to the victim index.
    pub(crate) fn index_running(&mut self, slot: u32) {
        let seq = self.seq(slot);
        let (band, account, key) = (seq.band, seq.account, seq.fcfs_key(slot));
        self.running_idx
            .insert(band, account, self.order_counter(account), key);
    }

    /// Position in `running` of the running request in `slot` (binary search by stamp).
    pub(crate) fn run_pos(&self, slot: u32) -> usize {
        let stamp = self.seq(slot).stamp;
        let pos = self
            .run_stamps
            .binary_search(&stamp)
            .expect("running request has a run entry");
        debug_assert_eq!(self.running[pos].slot, slot);
        pos
    }

    /// Appends a run entry for a request being admitted; returns its position.
    pub(crate) fn push_run(&mut self, slot: u32) -> usize {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let bs = self.cfg.block_size;
        let seq = self.seq_mut(slot);
        seq.stamp = stamp;
        let run = Run {
            id: seq.id,
            slot,
            computed: seq.computed,
            known: seq.known(),
            max_known: seq.prompt_len + seq.max_new,
            nblocks: seq.blocks.len() as u32,
            reg_at: seq.reg_at(bs),
            tenant: seq.tenant,
            workflow: seq.workflow,
        };
        self.running.push(run);
        self.run_stamps.push(stamp);
        self.n_running += 1;
        self.running.len() - 1
    }

    /// Drops the holes of `running` once they are a quarter of it (amortized O(1) per hole).
    /// Only called at the start of a step, so positions are stable from a `schedule` to the
    /// following `update`.
    pub(crate) fn compact_running(&mut self) {
        if self.holes > 0 && self.holes * 4 >= self.running.len() {
            let mut kept = 0;
            for i in 0..self.running.len() {
                if self.running[i].slot != NIL {
                    self.running[kept] = self.running[i];
                    self.run_stamps[kept] = self.run_stamps[i];
                    kept += 1;
                }
            }
            self.running.truncate(kept);
            self.run_stamps.truncate(kept);
            self.holes = 0;
        }
    }

    /// Takes the running request at `pos` out of the victim index and frees its KV blocks
    /// (`finished`: it is done, not preempted or aborted); writes its progress back to the slab
    /// entry and leaves a hole.
    pub(crate) fn stop_running_at(&mut self, pos: usize, finished: bool) {
        let run = self.running[pos];
        let slot = run.slot;
        let seq = self.seq(slot);
        let (band, account, key) = (seq.band, seq.account, seq.fcfs_key(slot));
        let finished_program = if finished && seq.last_call {
            seq.workflow
        } else {
            NIL
        };
        self.running_idx
            .remove(band, account, self.order_counter(account), &key);
        let blocks = std::mem::take(&mut self.seq_mut(slot).blocks);
        let full = run.computed / self.cfg.block_size;
        self.pool.release(&blocks, full, finished_program);
        let seq = self.seq_mut(slot);
        seq.generated = run.known - seq.prompt_len;
        seq.computed = 0;
        seq.registered = 0;
        self.running[pos].slot = NIL;
        self.n_running -= 1;
        self.holes += 1;
    }

    /// Charges `tenant` (and `workflow` unless `NIL`) `tokens` at `per_token` weighted tokens.
    pub(crate) fn charge_accounts(&mut self, tenant: u32, workflow: u32, tokens: u32, input: bool) {
        self.charge_tenant(tenant, tokens, 1, input);
        self.charge_workflow(workflow, tokens, input);
    }

    /// Charges `workflow` (nothing if `NIL`) `tokens` at `per_token` weighted tokens.
    pub(crate) fn charge_workflow(&mut self, workflow: u32, tokens: u32, input: bool) {
        if workflow != NIL {
            let per_token = if input { self.cfg.w_in } else { self.cfg.w_out };
            self.workflows
                .charge(workflow, per_token * f64::from(tokens));
        }
    }

    /// Charges `tenant` `times` charges of `tokens` tokens each, with the same result as that
    /// many single charges.
    pub(crate) fn charge_tenant(&mut self, tenant: u32, tokens: u32, times: u32, input: bool) {
        let per_token = if input { self.cfg.w_in } else { self.cfg.w_out };
        let amount = per_token * f64::from(tokens);
        let stats = &mut self.tenant_stats[tenant as usize];
        stats.service = add_repeated(stats.service, amount, times);
        let total = u64::from(tokens) * u64::from(times);
        if input {
            stats.input_tokens += total;
        } else {
            stats.output_tokens += total;
        }
        self.tenants.charge_repeated(tenant, amount, times);
    }

    /// Applies pending charges to every ordered structure.
    pub(crate) fn flush_counters(&mut self) {
        let mut moved = std::mem::take(&mut self.moved);
        self.tenants.flush(&mut moved);
        if self.tenant_ordered() {
            self.recount_all(&moved);
        }
        moved.clear();
        self.workflows.flush(&mut moved);
        match self.cfg.policy {
            Policy::WorkflowFair => self.recount_all(&moved),
            Policy::ProgramLas => self.rekey_programs(&moved),
            _ => {}
        }
        moved.clear();
        self.moved = moved;
    }

    /// Whether the waiting ladder's accounts are tenants ordered by their counters.
    fn tenant_ordered(&self) -> bool {
        matches!(self.cfg.policy, Policy::Fair | Policy::ProgramLas)
    }

    fn recount_all(&mut self, moved: &[(u32, f64, f64)]) {
        for &(a, old, new) in moved {
            self.recount_ladders(a, Some((old, new)));
        }
    }
}

fn at_index(e: Error, i: usize) -> Error {
    match e {
        Error::InvalidRequest { field, reason } => {
            Error::invalid(format!("reqs[{i}].{field}"), reason)
        }
        Error::Conflict(msg) => Error::Conflict(format!("reqs[{i}]: {msg}")),
        other => other,
    }
}
