//! `fgd`'s search over node classes (native scoring): a cheap lower bound on every class's
//! fragmentation change first, then tighter bounds and exact scoring in order of the bound,
//! stopping once no class left can beat the best found. Decisions are those of scoring every
//! class.
//!
//! The bound, per shape `s` of the distribution, for a request of `k` GPUs freeing at most
//! `F` of one GPU's share (work only takes capacity, so no shape becomes hostable):
//! - a shape the node cannot host stays unhostable: its fragmented capacity falls by exactly
//!   what is freed, at most `min(k * F, fragmented)`;
//! - a shape the node hosts loses fragmented capacity only on the GPUs taken that could not
//!   host one GPU's worth of it. If it stays hostable, a GPU that hosted `s` adds fragmented
//!   capacity or none; if it stops being hostable, the new fragmented capacity is the share of
//!   the GPUs that hosted `s` less what was freed, and what was freed from GPUs that hosted
//!   `s` is at most their share. So it falls by at most `min(n, k) * F` (and at most what was
//!   fragmented), `n` being the GPUs able to take one GPU's worth of the request but not of
//!   `s`.
//!
//! Each term is `p * -cut` with `-cut` at most the exact term, summed in the order scoring
//! sums, so the bound holds in floating point as well (rounding is monotone).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::choose::{best_on_node, quantize, score_lt, Request, Score, Scoring};
use super::class_summary::{Glance, GpuScan, Summary, SUMMARY_GPUS};
use super::classes::{newest_first, Class, ClassIndex};
use super::fragmentation::{Shape, ShapeFrag, WeightedShape};
use super::free_tables::FreeTables;
use super::node_index::{better, fits, ordered_best};
use super::policy::{PolicyKind, ScoreMode};
use super::view::{GpuView, NodeView};
use crate::total_order::OrdF64;

/// The most GPUs able to take the request that the bound lists on the stack; a class with
/// more takes the looser bound of [`FgdBound::loose`].
const LISTED: usize = 16;

/// What the bound needs of one decision.
pub struct FgdBound<'a> {
    shapes: &'a [WeightedShape],
    req: &'a Request,
    per_gpu: u32,
    reach: u32,
}

impl<'a> FgdBound<'a> {
    /// `per_gpu`: the most share one GPU's worth of `req` frees on any GPU indexed.
    pub fn new(shapes: &'a [WeightedShape], req: &'a Request, per_gpu: u32) -> Self {
        FgdBound {
            shapes,
            req,
            per_gpu,
            reach: per_gpu.saturating_mul(req.count),
        }
    }

    /// A lower bound on the change of expected fragmentation of any choice on `view`, whose
    /// terms by distribution slot are `bases`.
    pub fn floor(&self, view: &NodeView, bases: &[ShapeFrag]) -> f64 {
        let mut listed = [(0u64, 0u32); LISTED];
        let mut n = 0;
        for g in view.gpus.iter().filter(|g| self.req.gpu_ok(g)) {
            if n == LISTED {
                return self.loose(bases);
            }
            listed[n] = (g.mem_free, g.milli_free);
            n += 1;
        }
        let hosting = &listed[..n];
        self.shapes
            .iter()
            .map(|w| {
                let base = &bases[w.slot];
                let fragmented = base.value(&w.shape);
                let cut = if base.hosts(&w.shape) {
                    let gpus = not_hosting(hosting, &w.shape).min(self.req.count);
                    (gpus * self.per_gpu).min(fragmented)
                } else {
                    fragmented.min(self.reach)
                };
                w.probability * -(cut as f64)
            })
            .sum()
    }

    /// [`FgdBound::floor`] from a class's summary, without capping each shape's loss by what
    /// was fragmented (the summary has no shares): a shape the class cannot host may lose
    /// `k * F`, another `F` per GPU able to take the request but not the shape, `k` at most.
    /// `unhostable`: the slots the class cannot host (a superset will do).
    pub fn counted(&self, summary: &Summary, unhostable: u64) -> f64 {
        let mut hosting = [(0u64, 0u32); SUMMARY_GPUS];
        let n = summary.hosting_free(self.req, &mut hosting);
        let hosting = &hosting[..n];
        let k = self.req.count;
        self.shapes
            .iter()
            .map(|w| {
                let gpus = if w.slot >= 64 || unhostable >> w.slot & 1 == 1 {
                    k
                } else {
                    not_hosting(hosting, &w.shape).min(k)
                };
                w.probability * -((gpus * self.per_gpu) as f64)
            })
            .sum()
    }

    /// A lower bound on the score of any choice on `view` (its change of expected
    /// fragmentation and what it leaves, as scoring counts them), `None` if fewer than `k` of
    /// its GPUs can take the request (or the node cannot). The change is exact but for one
    /// term: it is the sum of the chosen GPUs' own changes, the `k` least of the GPUs able to
    /// take the request.
    ///
    /// Per shape `s` and chosen GPU (free share `b` before, `a` after): if the node cannot run
    /// `s`, all its free capacity is fragmented before and after, so the GPU adds `a - b`; if
    /// the GPU cannot host `s`, its share was fragmented and stays so, `a - b` again; if it
    /// hosts `s` before but not after, it adds `a`; else nothing. That is the exact change when
    /// the node still runs `s` afterwards; when it stops, the capacity of the GPUs still
    /// hosting `s` becomes fragmented too, which only adds.
    pub fn separable(&self, view: &NodeView, bases: &[ShapeFrag]) -> Option<(f64, f64)> {
        if !self.req.node_ok(view) {
            return None;
        }
        let mut own = [OwnChange::default(); LISTED];
        let mut n = 0;
        for g in view.gpus.iter().filter(|g| self.req.gpu_ok(g)) {
            if n == LISTED {
                return Some((self.floor(view, bases), 0.0));
            }
            own[n] = match n.checked_sub(1).map(|p| own[p]) {
                Some(previous) if previous.gpu == *g => previous,
                _ => self.own_change(g, bases),
            };
            n += 1;
        }
        let k = self.req.count as usize;
        (n >= k).then(|| least_of(&mut own[..n], k, view.total_share()))
    }

    /// One chosen GPU's own change of expected fragmentation (see [`FgdBound::separable`]).
    fn own_change(&self, gpu: &GpuView, bases: &[ShapeFrag]) -> OwnChange {
        let after = gpu.after(self.req.mem, self.req.milli);
        let (before_share, after_share) = (gpu.share(), after.share());
        let freed = -((before_share - after_share) as f64);
        let change = self
            .shapes
            .iter()
            .map(|w| {
                let (mem, milli) = (w.shape.memory_mib, w.shape.compute_milli);
                let term = if !bases[w.slot].hosts(&w.shape) || !gpu.hosts(mem, milli) {
                    freed
                } else if !after.hosts(mem, milli) {
                    after_share as f64
                } else {
                    0.0
                };
                w.probability * term
            })
            .sum();
        OwnChange {
            gpu: *gpu,
            change,
            freed: before_share - after_share,
            left: after_share,
        }
    }

    /// The bound without the per-GPU count: every shape may lose up to `k * F`.
    fn loose(&self, bases: &[ShapeFrag]) -> f64 {
        self.shapes
            .iter()
            .map(|w| w.probability * -(bases[w.slot].value(&w.shape).min(self.reach) as f64))
            .sum()
    }
}

/// One GPU's part in [`FgdBound::separable`]: its own change, the share it frees and the
/// share it keeps.
#[derive(Clone, Copy, Default)]
struct OwnChange {
    gpu: GpuView,
    change: f64,
    freed: u32,
    left: u32,
}

/// The bound of `k` of the GPUs `own`: the `k` least changes (less [`FLOAT_SLACK`]), and the
/// least score's third term any `k` of them leave (the node's share left after the `k`
/// largest frees, then the `k` least shares kept), as scoring computes it.
fn least_of(own: &mut [OwnChange], k: usize, total_share: u32) -> (f64, f64) {
    own.sort_unstable_by(|a, b| a.change.total_cmp(&b.change));
    let change = own[..k].iter().map(|o| o.change).sum::<f64>() - FLOAT_SLACK;
    own.sort_unstable_by_key(|o| std::cmp::Reverse(o.freed));
    let most_freed: u32 = own[..k].iter().map(|o| o.freed).sum();
    own.sort_unstable_by_key(|o| o.left);
    let least_kept: u32 = own[..k].iter().map(|o| o.left).sum();
    let node_left = (total_share - most_freed) as f64;
    (change, node_left * 1e5 + least_kept as f64)
}

/// How many of the GPUs with free (memory, compute) `hosting` cannot take one GPU's worth of
/// `shape`.
fn not_hosting(hosting: &[(u64, u32)], shape: &Shape) -> u32 {
    let (mem, milli) = (shape.memory_mib, shape.compute_milli);
    hosting
        .iter()
        .filter(|&&(m, c)| m < mem || c < milli)
        .count() as u32
}

/// Per decision, the probability of any set of distribution slots below 64 (a table of 256
/// partial sums per byte of the set that holds a slot), and the slots whose shape needs more of one
/// GPU's memory or compute than a given amount.
struct SlotSets {
    sums: Vec<[f64; 256]>,
    by_milli: Vec<(u32, u64)>,
    by_free: FreeTables,
}

impl SlotSets {
    /// `None` when a slot is 64 or above (the sets are 64-bit masks).
    fn new(shapes: &[WeightedShape]) -> Option<SlotSets> {
        let mut p = [0.0; 64];
        for w in shapes {
            *p.get_mut(w.slot)? = w.probability;
        }
        let bytes = shapes.iter().map(|w| w.slot / 8 + 1).max().unwrap_or(0);
        let sums = (0..bytes)
            .map(|byte| {
                let mut t = [0.0; 256];
                for v in 1..256usize {
                    let low = v.trailing_zeros() as usize;
                    t[v] = t[v & (v - 1)] + p[byte * 8 + low];
                }
                t
            })
            .collect();
        let gpu_shapes = || shapes.iter().filter(|w| w.shape.gpu_count > 0);
        let by_milli = above(
            gpu_shapes()
                .map(|w| (w.shape.compute_milli, w.slot))
                .collect(),
        );
        Some(SlotSets {
            sums,
            by_milli,
            by_free: FreeTables::new(shapes),
        })
    }

    fn probability(&self, set: u64) -> f64 {
        (self.sums.iter().enumerate())
            .map(|(b, sums)| sums[(set >> (8 * b)) as usize & 0xff])
            .sum()
    }

    /// The slots whose shape needs more than `mem` or more than `milli` of one GPU (and
    /// perhaps a few needing less than `mem`, up to one [`FreeTables`] step).
    fn needing_more(&self, mem: u64, milli: u32) -> u64 {
        self.by_free.needing_more(mem) | suffix(&self.by_milli, milli)
    }

    /// [`FgdBound::counted`] from a class's glance alone, or a bound below it, `None` where the
    /// tables do not apply. With `f_(t)` the `t`-th least free memory among the GPUs able to
    /// take the request, a shape the class hosts loses on `min(k, n)` GPUs, `n` being the
    /// hosting GPUs with less free than it needs: the number of `t <= k` with the shape
    /// needing more than `f_(t)`, so the shapes' probability so weighed is the sum over `t` of
    /// the probability of those unhostable or needing more than `f_(t)` (one tail lookup per
    /// gang size and `t`: [`FreeTables::counted_mass`]). Summed in another order than
    /// `counted`, so less [`FLOAT_SLACK`].
    fn counted(&self, glance: &Glance, bound: &FgdBound<'_>) -> Option<f64> {
        let gpus = glance.scan(bound.req)?;
        let k = bound.req.count as usize;
        let mass = self.by_free.counted_mass(glance, &gpus, k)?;
        Some(change_of(mass, bound.per_gpu))
    }
}

/// A superset of the slots a class cannot host, from the tables, `None` where they do not
/// apply (the summary's own set is then the one to read).
fn tables_unhostable(sets: Option<&SlotSets>, glance: &Glance) -> Option<u64> {
    sets.and_then(|sets| sets.by_free.unhostable(glance))
}

/// `(amount, slot)` sorted by amount, each with the set of its own and every later slot.
fn above<T: Ord + Copy>(mut items: Vec<(T, usize)>) -> Vec<(T, u64)> {
    items.sort_unstable();
    let mut set = 0u64;
    let mut out: Vec<(T, u64)> = items
        .iter()
        .rev()
        .map(|&(amount, slot)| {
            set |= 1 << slot;
            (amount, set)
        })
        .collect();
    out.reverse();
    out
}

/// The set of the slots needing more than `amount`.
#[inline]
fn suffix<T: Ord + Copy>(sets: &[(T, u64)], amount: T) -> u64 {
    match sets.last() {
        Some(&(most, _)) if most > amount => {
            let i = sets.partition_point(|&(a, _)| a <= amount);
            sets[i].1
        }
        _ => 0,
    }
}

/// A class waiting to be scored (ordered by bound, then class id), with the bounds already in
/// its bound.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    bound: [OrdF64; 3],
    id: usize,
    stage: Stage,
}

/// How far a class's bound has been refined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// The coarse bound of the first pass.
    Coarse,
    /// The per-GPU count ([`FgdBound::counted`] or [`FgdBound::floor`]).
    Counted,
    /// Each chosen GPU's own change ([`FgdBound::separable`]): next is the exact score.
    Separable,
}

impl Pending {
    fn new(key: Score, stage: Stage, id: usize) -> Self {
        Pending {
            bound: [OrdF64(key.0), OrdF64(key.1), OrdF64(key.2)],
            id,
            stage,
        }
    }

    fn key(&self) -> Score {
        let [a, b, c] = self.bound;
        (a.0, b.0, c.0)
    }
}

/// The lexicographically larger of two lower bounds on a score.
fn tighter(a: Score, b: Score) -> Score {
    if score_lt(a, b) {
        b
    } else {
        a
    }
}

/// The best node for `req` under `fgd` (native scoring) over the classes `eligible` accepts:
/// best score, then lowest node index, as scoring every class finds it.
///
/// Every class gets a bound on its score from cached terms alone: its fragmentation change is
/// at least `-k * F` times the probability of the shapes it cannot host or whose one GPU's
/// worth needs more memory or compute than some GPU able to take the request has free (any
/// other shape is hosted by every GPU the request could take, so it loses nothing
/// fragmented); its packing tier and what it has left follow from its occupied GPUs and free
/// share. On a fleet of many classes `best_fit`'s node is scored first and classes bound above
/// it are dropped there. The rest are taken least bound first: a bound is refined by the
/// per-GPU count of [`FgdBound::floor`], then by the chosen GPUs' own changes of
/// [`FgdBound::separable`] (which is the exact change, and the least the class can leave, on
/// most classes: ties at the best change are then decided without scoring), then the class is
/// scored; the search stops at a bound above the best score found.
pub fn fgd_best(
    classes: &mut ClassIndex,
    req: &Request,
    shapes: &[WeightedShape],
    eligible: Option<&dyn Fn(&Class) -> bool>,
) -> Option<usize> {
    let order = classes.order();
    let search = Search {
        req,
        shapes,
        tier_level: order.hosting_level(req),
        bound: FgdBound::new(shapes, req, order.max_freed_per_gpu(req)),
        sets: SlotSets::new(shapes),
        newest: newest_first(shapes),
    };
    let incumbent = (classes.len() >= INCUMBENT_FROM)
        .then(|| {
            ordered_best(classes, req, PolicyKind::BestFit, &|c| {
                eligible.is_none_or(|e| e(c))
            })
        })
        .flatten()
        .and_then(|node| classes.id_of(node));
    let mut best = incumbent.and_then(|id| search.score(classes, id));
    let mut pending = search.first_pass(classes, best, incumbent);
    if let Some(eligible) = eligible {
        pending.retain(|p| eligible(classes.get(p.id)));
    }
    if best.is_none() {
        if let Some(i) = (0..pending.len()).min_by_key(|&i| &pending[i]) {
            let first = pending.swap_remove(i);
            best = search.score(classes, first.id);
            if let Some((s, _)) = best {
                pending.retain(|p| !score_lt(s, p.key()));
            }
        }
    }
    search.run(classes, pending, best).map(|(_, node)| node)
}

/// The classes from which `fgd` first scores `best_fit`'s node, so the first pass keeps every
/// class bound above it out of the heap; with fewer, the walk costs more than the heap it saves
/// (openb's 1,213 nodes: 30-43 -> 52 µs per decision with it).
const INCUMBENT_FROM: usize = 4096;

/// What one decision's search needs besides the classes.
struct Search<'a> {
    req: &'a Request,
    shapes: &'a [WeightedShape],
    tier_level: (usize, u16),
    bound: FgdBound<'a>,
    sets: Option<SlotSets>,
    newest: Vec<WeightedShape>,
}

impl Search<'_> {
    /// Every class able to host the request with its coarse bound, but those whose bound is
    /// above `best` and the class `skip` (already scored).
    fn first_pass(
        &self,
        classes: &mut ClassIndex,
        best: Option<(Score, usize)>,
        skip: Option<usize>,
    ) -> Vec<Pending> {
        let (req, (tier, level)) = (self.req, self.tier_level);
        let mut pending = Vec::new();
        for (id, glance, summary) in classes.glances_mut() {
            if glance.levels[tier] < level || !glance.node_ok(req) || Some(id) == skip {
                continue;
            }
            let Some((change, gpus)) = self.coarse(glance, summary) else {
                continue;
            };
            // Rounded, the change is above the best's: no need for the rest of the key.
            if best.is_some_and(|(s, _)| change > s.0 + QUANTUM) {
                continue;
            }
            let key = match gpus {
                Some(gpus) => key_of(change, glance, req, &gpus, &self.bound),
                None => loose_key(change, glance, &self.bound),
            };
            if best.is_some_and(|(s, _)| score_lt(s, key)) {
                continue;
            }
            // One GPU's worth: the per-GPU count is what the coarse bound already counts.
            let stage = if req.count <= 1 && !glance.wide {
                Stage::Counted
            } else {
                Stage::Coarse
            };
            pending.push(Pending::new(key, stage, id));
        }
        pending
    }

    /// The coarse bound on a class's change and the scan of its GPUs (`None` for a class too
    /// wide for a summary), `None` if too few of its GPUs can take the request.
    fn coarse(&self, glance: &Glance, summary: &mut Summary) -> Option<(f64, Option<GpuScan>)> {
        if glance.wide {
            return Some((change_of(1.0, self.bound.reach), None));
        }
        let plain = glance.scan(self.req);
        let gpus = plain.unwrap_or_else(|| summary.scan(self.req));
        if gpus.hosting < self.req.count {
            return None;
        }
        let sets = self.sets.as_ref();
        let lost = sets.zip(plain.as_ref());
        let change = match lost.and_then(|(sets, scan)| sets.by_free.lost_mass(glance, scan)) {
            Some(mass) => change_of(mass, self.bound.reach),
            None => {
                let unhostable = tables_unhostable(sets, glance)
                    .unwrap_or_else(|| summary.unhostable(&self.newest));
                coarse_change(&gpus, unhostable, &self.bound, sets)
            }
        };
        Some((change, Some(gpus)))
    }

    /// Classes least bound first: a bound is refined twice, then the class is scored, until a
    /// bound is above the best score found.
    fn run(
        &self,
        classes: &mut ClassIndex,
        pending: Vec<Pending>,
        mut best: Option<(Score, usize)>,
    ) -> Option<(Score, usize)> {
        let mut pending: BinaryHeap<_> = pending.into_iter().map(Reverse).collect();
        while let Some(Reverse(next)) = pending.pop() {
            if best.is_some_and(|(s, _)| score_lt(s, next.key())) {
                break;
            }
            if next.stage != Stage::Separable {
                let key = next.key();
                let (floor, stage) = match next.stage {
                    Stage::Coarse => (
                        self.refined_floor(classes, next.id)
                            .map(|f| (quantize(f), key.1, key.2)),
                        Stage::Counted,
                    ),
                    _ => (
                        self.separable_floor(classes, next.id)
                            .map(|(f, left)| (quantize(f), key.1, key.2.max(left))),
                        Stage::Separable,
                    ),
                };
                let Some(floor) = floor else {
                    continue;
                };
                let key = tighter(key, floor);
                pending.push(Reverse(Pending::new(key, stage, next.id)));
                continue;
            }
            let scored = self.score(classes, next.id);
            if let Some((score, first)) = scored {
                if best.is_none_or(|(s, n)| better(score, first, s, n)) {
                    best = scored;
                }
            }
        }
        best
    }

    fn score(&self, classes: &mut ClassIndex, id: usize) -> Option<(Score, usize)> {
        score_class(classes, id, self.req, self.shapes, &self.newest)
    }

    fn separable_floor(&self, classes: &mut ClassIndex, id: usize) -> Option<(f64, f64)> {
        let class = classes.get_mut(id);
        let bases = class.frag.refresh(&class.view, &self.newest);
        self.bound.separable(&class.view, bases)
    }

    fn refined_floor(&self, classes: &mut ClassIndex, id: usize) -> Option<f64> {
        let sets = self.sets.as_ref();
        refined_floor(classes, id, self.req, &self.bound, &self.newest, sets)
    }
}

/// The exact score of class `id` for `req` and its lowest node index, `None` if the request
/// does not fit there.
fn score_class(
    classes: &mut ClassIndex,
    id: usize,
    req: &Request,
    shapes: &[WeightedShape],
    newest: &[WeightedShape],
) -> Option<(Score, usize)> {
    let class = classes.get_mut(id);
    let bases = class.frag.refresh(&class.view, newest);
    let mut scoring = Scoring {
        policy: PolicyKind::Fgd,
        mode: ScoreMode::Native,
        shapes,
        rng: None,
    };
    let c = best_on_node(&class.view, req, bases, &mut scoring)?;
    Some((c.score, class.first()))
}

/// The per-GPU bound of class `id` ([`FgdBound::counted`], or [`FgdBound::floor`] for a
/// class too wide for a summary), `None` if the request does not fit there.
fn refined_floor(
    classes: &mut ClassIndex,
    id: usize,
    req: &Request,
    bound: &FgdBound<'_>,
    newest: &[WeightedShape],
    sets: Option<&SlotSets>,
) -> Option<f64> {
    let (glance, summary) = classes.summary(id);
    if let Some(floor) = sets.and_then(|sets| sets.counted(glance, bound)) {
        return Some(floor);
    }
    if !glance.wide {
        // The first pass brought the summary's own set up to date.
        let unhostable =
            tables_unhostable(sets, glance).unwrap_or_else(|| summary.unhostable_now());
        return Some(bound.counted(summary, unhostable));
    }
    let class = classes.get_mut(id);
    let bases = class.frag.refresh(&class.view, newest);
    fits(&class.view, req).then(|| bound.floor(&class.view, bases))
}

/// The bound on a class's change read from its unhostable set: see [`fgd_best`].
fn coarse_change(
    gpus: &GpuScan,
    unhostable: u64,
    bound: &FgdBound<'_>,
    sets: Option<&SlotSets>,
) -> f64 {
    match sets {
        None => change_of(1.0, bound.reach),
        Some(sets) => {
            let losing = unhostable | sets.needing_more(gpus.least_mem, gpus.least_milli);
            change_of(sets.probability(losing), bound.reach)
        }
    }
}

/// The bound on the change when each unit of the probability `lost` may lose `amount`.
fn change_of(lost: f64, amount: u32) -> f64 {
    if lost == 0.0 {
        0.0
    } else {
        -(amount as f64) * lost - FLOAT_SLACK
    }
}

/// The coarse bound with the bound `change` on the change: the packing tier and what is left.
/// The change is rounded as scores are: a bound within a quantum below a change could
/// otherwise be above its score (rounding is monotone, so a bound below a change stays below
/// its score once rounded).
fn key_of(
    change: f64,
    glance: &Glance,
    req: &Request,
    gpus: &GpuScan,
    bound: &FgdBound<'_>,
) -> Score {
    let tier = if !glance.occupied {
        2.0
    } else if req.count > 0 && gpus.occupied_hosting >= req.count {
        0.0
    } else {
        1.0
    };
    (quantize(change), tier, left_bound(glance, bound))
}

/// The bound on a class too wide for a summary: every shape may lose `k * F`, any tier.
fn loose_key(change: f64, glance: &Glance, bound: &FgdBound<'_>) -> Score {
    (change, 0.0, left_bound(glance, bound))
}

/// What a class has left after the request, at least, as the score's third term counts it.
fn left_bound(glance: &Glance, bound: &FgdBound<'_>) -> f64 {
    glance.free.saturating_sub(bound.reach) as f64 * 1e5
}

/// What a bound summed in another order than scoring gives up so that float rounding cannot put
/// it above a score: both sums are within `n * 1e-16 * 16,000` of the exact value for `n`
/// shapes (16 GPUs of 1,000 milli-GPU at most; 1e-10 for a distribution of 64 shapes), so this
/// is far more than rounding needs and a tenth of the 1e-6 that [`quantize`] rounds scores to,
/// which keeps a bound equal to the score, once quantized, wherever it is exact (ties at the
/// best change are then settled by the tie-breaks' bounds instead of by scoring).
const FLOAT_SLACK: f64 = 1e-7;

/// What [`quantize`] rounds scores to: a change more than this above a score rounds above it.
const QUANTUM: f64 = 1e-6;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::choose::frag_delta;
    use super::super::classes::newest_first;
    use super::super::view::GpuView;
    use super::*;

    const SIZES_MIB: [u64; 3] = [81_920, 40_960, 24_576];

    fn gpu((size, used, milli_used, healthy): (usize, u64, u32, bool)) -> GpuView {
        let mem_total = SIZES_MIB[size];
        GpuView {
            group: 0,
            healthy,
            model: 0,
            mem_total,
            mem_free: mem_total - used.min(mem_total),
            milli_total: 1000,
            milli_free: 1000 - milli_used,
            occupied: used > 0 || milli_used > 0,
        }
    }

    fn shape((count, gb, milli, cpu): Drawn) -> Shape {
        Shape {
            gpu_count: count,
            memory_mib: gb * 1024,
            compute_milli: milli,
            cpu_milli: cpu,
            host_memory_mib: 0,
        }
    }

    /// A node of `gpus` with `cpu_free` host CPU.
    fn node(gpus: Vec<(usize, u64, u32, bool)>, cpu_free: u64) -> NodeView {
        NodeView {
            labels: 0,
            cpu_free,
            mem_free: 1 << 30,
            occupied: true,
            kinds: 0,
            gpus: gpus.into_iter().map(gpu).collect(),
        }
        .sorted()
    }

    /// A shape as the strategies draw it: GPUs, GB per GPU, milli-GPU, host milli-CPU.
    type Drawn = (u32, u64, u32, u64);

    /// The distribution of `shapes`, each with its weight.
    fn weighted(shapes: &[(Drawn, u32)]) -> Vec<WeightedShape> {
        let total: u32 = shapes.iter().map(|s| s.1).sum();
        (shapes.iter().enumerate())
            .map(|(slot, &(s, w))| WeightedShape {
                slot,
                generation: 1,
                shape: shape(s),
                probability: w as f64 / total as f64,
            })
            .collect()
    }

    fn request((count, gb, milli, cpu): Drawn) -> Request {
        Request {
            count,
            mem: gb * 1024,
            milli,
            cpu,
            host_mem: 0,
            models: None,
        }
    }

    /// The GPUs of `view` able to take one GPU's worth of `req`, and the most share one frees.
    fn hosting(view: &NodeView, req: &Request) -> (Vec<usize>, u32) {
        let pool: Vec<usize> = (0..view.gpus.len())
            .filter(|&p| req.gpu_ok(&view.gpus[p]))
            .collect();
        let per_gpu = (pool.iter())
            .map(|&p| view.gpus[p].share() - view.gpus[p].after(req.mem, req.milli).share())
            .max()
            .unwrap_or(0);
        (pool, per_gpu)
    }

    /// Every `k`-subset of `pool`.
    fn subsets(pool: &[usize], k: usize) -> Vec<Vec<usize>> {
        (0u32..1 << pool.len())
            .filter(|m| m.count_ones() as usize == k)
            .map(|m| {
                (0..pool.len())
                    .filter(|i| m >> i & 1 == 1)
                    .map(|i| pool[i])
                    .collect()
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// No choice of GPUs on a node changes its expected fragmentation by less than the
        /// per-GPU bound or the sum of the chosen GPUs' own changes, nor leaves less than the
        /// separable bound's third term, whatever the node (GPU sizes, usage, drained GPUs,
        /// host CPU), the distribution (GPU-less shapes and gangs included) and the request.
        #[test]
        fn floor_and_separable_are_below_every_choice(
            gpus in prop::collection::vec((0usize..3, 0u64..90_000, 0u32..1001, prop::bool::weighted(0.9)), 1..9),
            cpu_free in 0u64..64,
            shapes in prop::collection::vec(((0u32..5, 1u64..80, 0u32..1001, 0u64..48), 1u32..9), 1..12),
            req in (0u32..5, 1u64..80, 0u32..1001, 0u64..48),
        ) {
            let view = node(gpus, cpu_free + req.3);
            let weighted = weighted(&shapes);
            let bases = ShapeFrag::by_slot(&view, &weighted);
            let req = request(req);
            let (pool, per_gpu) = hosting(&view, &req);
            let bound = FgdBound::new(&weighted, &req, per_gpu);
            let floor = bound.floor(&view, &bases);
            let separable = bound.separable(&view, &bases);
            prop_assert_eq!(separable.is_some(), pool.len() >= req.count as usize && req.node_ok(&view));
            let (change, left) = separable.unwrap_or((f64::NEG_INFINITY, 0.0));
            for gpus in subsets(&pool, req.count as usize) {
                let delta = frag_delta(&view, &req, &gpus, &bases, &weighted);
                prop_assert!(floor <= delta, "floor {floor} above the change {delta} of {gpus:?}");
                prop_assert!(change <= delta, "bound {change} above the change {delta} of {gpus:?}");
                let (freed, kept): (u32, u32) = gpus.iter().map(|&p| {
                    let (b, a) = (view.gpus[p].share(), view.gpus[p].after(req.mem, req.milli).share());
                    (b - a, a)
                }).fold((0, 0), |(f, k), (df, dk)| (f + df, k + dk));
                let third = (view.total_share() - freed) as f64 * 1e5 + kept as f64;
                prop_assert!(left <= third, "left {left} above {third} of {gpus:?}");
            }
        }

        /// On whole-compute GPUs with CPU to spare (where the tables apply), the glance's
        /// unhostable set holds every shape the class cannot host, its per-GPU bound is below
        /// every choice of GPUs and no higher than the summary's, and the tail lookups give the
        /// probability of the coarse bound's set.
        #[test]
        fn glance_bound_is_below_every_choice(
            gpus in prop::collection::vec((0usize..3, 0u64..90_000, Just(0u32), prop::bool::weighted(0.9)), 1..9),
            shapes in prop::collection::vec(((0u32..5, 1u64..80, 0u32..1001, 0u64..48), 1u32..9), 1..12),
            req in (1u32..5, 1u64..80, 0u32..1001, 0u64..48),
        ) {
            let view = node(gpus, 64);
            let weighted = weighted(&shapes);
            let bases = ShapeFrag::by_slot(&view, &weighted);
            let req = request(req);
            let (pool, per_gpu) = hosting(&view, &req);
            if pool.len() < req.count as usize {
                return Ok(());
            }
            let bound = FgdBound::new(&weighted, &req, per_gpu);
            let sets = SlotSets::new(&weighted).unwrap();
            let glance = Glance::of(&view, view.total_share(), [0; super::super::node_index::TIER_COUNT]);
            let mut summary = Summary::of(&view);
            let exact = summary.unhostable(&newest_first(&weighted));
            let tables = sets.by_free.unhostable(&glance).unwrap();
            prop_assert_eq!(exact & !tables, 0, "unhostable {:b}, tables {:b}", exact, tables);
            let counted = sets.counted(&glance, &bound).unwrap();
            prop_assert!(counted <= bound.counted(&summary, exact));
            let scan = glance.scan(&req).unwrap();
            let losing = tables | sets.needing_more(scan.least_mem, scan.least_milli);
            let mass = sets.by_free.lost_mass(&glance, &scan).unwrap();
            prop_assert!((mass - sets.probability(losing)).abs() < 1e-12, "lost mass {} for the set {:b}", mass, losing);
            for gpus in subsets(&pool, req.count as usize) {
                let delta = frag_delta(&view, &req, &gpus, &bases, &weighted);
                prop_assert!(counted <= delta, "bound {counted} above the change {delta} of {gpus:?}");
            }
        }
    }
}
