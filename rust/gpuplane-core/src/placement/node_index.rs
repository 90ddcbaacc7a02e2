//! Node classes kept in order, so that policies whose score is bounded by a node's free
//! capacity find their best class without scoring every class.
//!
//! Two orders are kept: by free GPU capacity (the class's total free share, milli-GPU; classes
//! whose GPUs are all memory-bound apart, as taking memory from them is known to free at least
//! its share) and by the class's lowest node index. A decision walks one of them and stops as soon as no class
//! further along can beat the best found:
//! - `best_fit` and `packing` walk free capacity upwards: a node left with `L` milli-GPU free
//!   had at least `L` free before, and a request of `k` GPUs frees at most `k * F` of it, `F`
//!   being the most one GPU's worth of the request can free on any GPU of the cluster;
//! - `spread` walks it downwards: a node is left with at most what it had free less the
//!   least the request takes;
//! - `first_fit` walks node indices upwards: every fit scores the same, the lowest index wins.
//!
//! Within the walk each class is scored exactly as a full scan scores it, so decisions are
//! the same (see the property test in `search_props.rs`).

use std::collections::BTreeSet;

use super::choose::{best_on_node, score_lt, Request, Score, Scoring};
use super::classes::{Class, ClassIndex};
use super::policy::{PolicyKind, ScoreMode};
use super::view::{GpuView, NodeView};
use crate::rng::SplitMix64;

/// Gang sizes the orders are tiered by: a request of `k` GPUs walks the tier of the largest
/// size not above `k`, where classes sit by the free share of their `size`-th freest GPU.
const TIERS: [u32; TIER_COUNT] = [1, 2, 4, 8];

/// How many gang tiers the orders keep.
pub const TIER_COUNT: usize = 4;

/// Free-share levels a tier is split into, each 1/16 of a GPU wide.
const LEVELS: u16 = 16;

/// The level of a free share (milli-GPU).
fn level(share: u32) -> u16 {
    (share.min(1000) * LEVELS as u32 / 1001) as u16
}

/// The tier a request of `count` GPUs walks.
fn tier(count: u32) -> usize {
    TIERS.iter().rposition(|&t| t <= count).unwrap_or(0)
}

/// Per tier, the level of the free memory share of the view's `size`-th GPU with the most
/// free memory (0 when it has fewer GPUs; unhealthy GPUs have none). A node hosting `k` GPUs'
/// worth of a request has `k` GPUs with at least its memory free, so its level in every tier
/// up to `k` is at least the level of the least memory share that holds the request: walks
/// skip lower levels in bulk.
pub fn tier_levels(view: &NodeView) -> [u16; TIER_COUNT] {
    let mut shares: Vec<u32> = view.gpus.iter().map(mem_share).collect();
    shares.sort_unstable_by(|a, b| b.cmp(a));
    TIERS.map(|t| shares.get(t as usize - 1).map_or(0, |&s| level(s)))
}

fn mem_share(g: &GpuView) -> u32 {
    if !g.healthy {
        return 0;
    }
    (g.mem_free.saturating_mul(1000) / g.mem_total.max(1)).min(1000) as u32
}

/// Where a class sits in the orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    /// Sum of the class's GPU free shares (milli-GPU).
    pub free: u32,
    /// The class's lowest node index.
    pub first: usize,
    /// Every healthy GPU's free share is set by its memory (see [`mem_bound`]).
    pub mem_bound: bool,
    /// The class's level in each tier (see [`tier_levels`]).
    pub levels: [u16; TIER_COUNT],
}

/// Whether every healthy GPU of `view` has no more free memory share than free compute share,
/// so that taking memory from it lowers its free share by at least the memory's share.
pub fn mem_bound(view: &NodeView) -> bool {
    view.gpus.iter().filter(|g| g.healthy).all(|g| {
        g.mem_free as u128 * g.milli_total.max(1) as u128
            <= g.milli_free as u128 * g.mem_total.max(1) as u128
    })
}

type Tiered<K> = [BTreeSet<K>; TIER_COUNT];

/// The live classes, per tier, ordered by (level, free capacity) (memory-bound classes apart
/// from the others) and by (level, lowest node index), and the smallest and largest GPU sizes
/// ever indexed (what bounds how much one GPU's worth of a request frees).
#[derive(Debug, Clone)]
pub struct NodeOrder {
    by_free: [Tiered<(u16, u32, usize)>; 2],
    by_first: Tiered<(u16, usize, usize)>,
    mem_total: (u64, u64),
    milli_total: (u64, u64),
}

impl Default for NodeOrder {
    fn default() -> Self {
        NodeOrder {
            by_free: Default::default(),
            by_first: Default::default(),
            mem_total: (u64::MAX, 1),
            milli_total: (u64::MAX, 1),
        }
    }
}

impl NodeOrder {
    /// Records class `id` at `key`; `view` widens the GPU size range if need be.
    pub fn insert(&mut self, id: usize, key: OrderKey, view: &NodeView) {
        for g in &view.gpus {
            let (mem, milli) = (g.mem_total.max(1), g.milli_total.max(1) as u64);
            self.mem_total = (self.mem_total.0.min(mem), self.mem_total.1.max(mem));
            self.milli_total = (self.milli_total.0.min(milli), self.milli_total.1.max(milli));
        }
        for (t, &lvl) in key.levels.iter().enumerate() {
            self.by_free[key.mem_bound as usize][t].insert((lvl, key.free, id));
            self.by_first[t].insert((lvl, key.first, id));
        }
    }

    /// Forgets class `id`, which was recorded at `key`.
    pub fn remove(&mut self, id: usize, key: OrderKey) {
        for (t, &lvl) in key.levels.iter().enumerate() {
            self.by_free[key.mem_bound as usize][t].remove(&(lvl, key.free, id));
            self.by_first[t].remove(&(lvl, key.first, id));
        }
    }

    /// Moves class `id` (now at `key`) from lowest node index `old_first` to `key.first`.
    pub fn refirst(&mut self, id: usize, key: OrderKey, old_first: usize) {
        for (t, &lvl) in key.levels.iter().enumerate() {
            self.by_first[t].remove(&(lvl, old_first, id));
            self.by_first[t].insert((lvl, key.first, id));
        }
    }

    /// (tier, lowest level, least total free share) of a class able to host `req`.
    fn walk_start(&self, req: &Request) -> (usize, u16, u32) {
        if req.count == 0 {
            return (0, 0, 0);
        }
        let least_mem = share_range(req.mem, self.mem_total).0;
        let least = self.least_hosting_share(req);
        (
            tier(req.count),
            level(least_mem),
            least.saturating_mul(req.count),
        )
    }

    /// (tier, level) that a class needs to host `req` (see [`tier_levels`] and
    /// [`Class::may_host`]).
    pub fn hosting_level(&self, req: &Request) -> (usize, u16) {
        let (t, from, _) = self.walk_start(req);
        (t, from)
    }

    /// Bounds on the free share (milli-GPU) one GPU's worth of `req` takes from a GPU that
    /// hosts it: (least on a memory-bound GPU, least on any GPU, most on any GPU). Shares are
    /// floors of `free * 1000 / total` for memory and compute, taking the scarcer; taking `m`
    /// lowers a floor by at least `floor(m * 1000 / total)` and at most `ceil(m * 1000 / total)`.
    fn freed_per_gpu(&self, req: &Request) -> (u32, u32, u32) {
        let mem = share_range(req.mem, self.mem_total);
        let milli = share_range(req.milli as u64, self.milli_total);
        (mem.0, mem.0.min(milli.0), mem.1.max(milli.1).min(1000))
    }

    /// The most free share one GPU's worth of `req` takes from any GPU indexed.
    pub fn max_freed_per_gpu(&self, req: &Request) -> u32 {
        self.freed_per_gpu(req).2
    }

    /// The least free share of a GPU able to host one GPU's worth of `req`.
    fn least_hosting_share(&self, req: &Request) -> u32 {
        let mem = share_range(req.mem, self.mem_total).0;
        let milli = share_range(req.milli as u64, self.milli_total).0;
        mem.min(milli)
    }
}

/// (floor of `amount`'s share of the largest total, ceil of its share of the smallest).
fn share_range(amount: u64, (least, most): (u64, u64)) -> (u32, u32) {
    let scaled = amount as u128 * 1000;
    let lo = (scaled / most as u128).min(1000) as u32;
    let hi = scaled.div_ceil(least as u128).min(1001) as u32;
    (lo, hi)
}

/// The walk a policy takes through the order, or `None` when it needs every class scored.
fn walk(policy: PolicyKind) -> Option<Walk> {
    match policy {
        PolicyKind::BestFit | PolicyKind::Packing => Some(Walk::FreeUp),
        PolicyKind::Spread => Some(Walk::FreeDown),
        PolicyKind::FirstFit => Some(Walk::FirstUp),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy)]
enum Walk {
    FreeUp,
    FreeDown,
    FirstUp,
}

/// Whether `policy` under `mode` is decided by walking the order (else by scoring every class).
pub fn is_ordered(policy: PolicyKind, mode: ScoreMode) -> bool {
    mode == ScoreMode::Native && walk(policy).is_some()
}

/// The least and the most free share a request (`k` GPUs' worth) takes from one node of a set.
#[derive(Debug, Clone, Copy)]
struct Reach {
    least: f64,
    most: f64,
}

/// Whether no class at `key` (free share, or lowest node index for `first_fit`) or further
/// along the walk can beat `best`.
fn beyond(policy: PolicyKind, key: usize, reach: Reach, best: &(Score, usize)) -> bool {
    let free = key as f64;
    let (least_left, most_left) = (free - reach.most, free - reach.least);
    let (score, node) = best;
    match policy {
        PolicyKind::BestFit => least_left > score.0,
        PolicyKind::Packing => score.0 == 0.0 && least_left > score.1,
        PolicyKind::Spread => most_left < -score.0,
        _ => key > *node,
    }
}

type Best = Option<(Score, usize)>;

/// The best node for `req` under an ordered `policy` (see [`is_ordered`]): best score, then
/// lowest node index, over the classes `eligible` accepts, as a full scan would find it.
/// Each level of the request's tier at or above the least hosting share's is walked on its
/// own; free-capacity walks start where a node has enough free share to host `k` GPUs' worth.
pub fn ordered_best(
    classes: &ClassIndex,
    req: &Request,
    policy: PolicyKind,
    eligible: &dyn Fn(&Class) -> bool,
) -> Option<usize> {
    let order = classes.order();
    let walk = walk(policy)?;
    let k = req.count as f64;
    let (least_bound, least_any, most) = order.freed_per_gpu(req);
    let (t, from, start) = order.walk_start(req);
    let mut best: Best = None;
    for set in [1, 0] {
        let least = if set == 1 { least_bound } else { least_any };
        let walked = Walked {
            req,
            policy,
            eligible,
            reach: Reach {
                least: k * least as f64,
                most: k * most as f64,
            },
        };
        let by_free = &order.by_free[set][t];
        let whole = |lvl: u16| (lvl, 0, 0)..=(lvl, u32::MAX, usize::MAX);
        for lvl in from..LEVELS {
            let key = |&(_, f, id): &(u16, u32, usize)| (f as usize, id);
            best = match walk {
                Walk::FreeUp => {
                    let keys = by_free.range((lvl, start, 0)..=(lvl, u32::MAX, usize::MAX));
                    walked.run(classes, keys.map(key), best)
                }
                Walk::FreeDown => {
                    let lvl = LEVELS - 1 - (lvl - from);
                    walked.run(classes, by_free.range(whole(lvl)).rev().map(key), best)
                }
                Walk::FirstUp if set == 1 => {
                    // The freest levels first: they fit most often, so the lowest index found
                    // there bounds the walks of the levels below.
                    let lvl = LEVELS - 1 - (lvl - from);
                    let keys = order.by_first[t].range((lvl, 0, 0)..=(lvl, usize::MAX, usize::MAX));
                    walked.run(classes, keys.map(|&(_, f, id)| (f, id)), best)
                }
                Walk::FirstUp => best,
            };
        }
    }
    best.map(|(_, node)| node)
}

/// One walk through one ordered set.
struct Walked<'a> {
    req: &'a Request,
    policy: PolicyKind,
    eligible: &'a dyn Fn(&Class) -> bool,
    reach: Reach,
}

impl Walked<'_> {
    fn run(
        &self,
        classes: &ClassIndex,
        keys: impl Iterator<Item = (usize, usize)>,
        mut best: Best,
    ) -> Best {
        for (key, id) in keys {
            if best.is_some_and(|b| beyond(self.policy, key, self.reach, &b)) {
                break;
            }
            let class = classes.get(id);
            if let Some(score) = class_score(class, self.req, self.policy, self.eligible) {
                let first = class.first();
                if best.is_none_or(|(s, n)| better(score, first, s, n)) {
                    best = Some((score, first));
                }
            }
        }
        best
    }
}

fn class_score(
    class: &Class,
    req: &Request,
    policy: PolicyKind,
    eligible: &dyn Fn(&Class) -> bool,
) -> Option<Score> {
    if !fits(&class.view, req) || !eligible(class) {
        return None;
    }
    let mut scoring = Scoring {
        policy,
        mode: ScoreMode::Native,
        shapes: &[],
        rng: None,
    };
    best_on_node(&class.view, req, &[], &mut scoring).map(|c| c.score)
}

/// Better score, or an equal score on a lower node index.
pub fn better(score: Score, first: usize, best: Score, best_first: usize) -> bool {
    score_lt(score, best) || (!score_lt(best, score) && first < best_first)
}

/// A cheap necessary condition for `req` to fit on `view`: host resources, and enough GPUs
/// that can each take one GPU's worth. Every policy's choice needs it, so failing it skips
/// the class without scoring.
pub fn fits(view: &NodeView, req: &Request) -> bool {
    if !req.node_ok(view) {
        return false;
    }
    let need = req.count as usize;
    need == 0
        || view
            .gpus
            .iter()
            .filter(|g| req.gpu_ok(g))
            .take(need)
            .count()
            == need
}

/// How many node indices `random` draws before it lists every node that fits.
pub const RANDOM_DRAWS: usize = 32;

/// A node drawn uniformly among those where `req` fits, by rejection: up to [`RANDOM_DRAWS`]
/// indices below `slots` are drawn uniformly and the first live, eligible node that fits is
/// taken. `None` when every draw missed; the caller then draws among the full list of fitting
/// nodes, so the pick stays uniform over fitting nodes either way (each accepted draw is).
pub fn sample_fitting(
    classes: &ClassIndex,
    req: &Request,
    slots: usize,
    eligible: &dyn Fn(&Class) -> bool,
    rng: &mut SplitMix64,
) -> Option<usize> {
    if slots == 0 {
        return None;
    }
    let mut scoring = Scoring {
        policy: PolicyKind::FirstFit,
        mode: ScoreMode::Native,
        shapes: &[],
        rng: None,
    };
    for _ in 0..RANDOM_DRAWS {
        let node = rng.below(slots as u64) as usize;
        let Some(class) = classes.class_of(node) else {
            continue;
        };
        if fits(&class.view, req)
            && eligible(class)
            && best_on_node(&class.view, req, &[], &mut scoring).is_some()
        {
            return Some(node);
        }
    }
    None
}
