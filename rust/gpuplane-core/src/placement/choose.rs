//! Choosing GPUs on one node and scoring the choice, for every policy.
//!
//! Everything here is a pure function of a [`NodeView`], so the same code scores a class of
//! interchangeable nodes, a real node, or a node as it would be after a preemption.

use super::baselines::{clustering, dot_product};
use super::fill::unfillable_delta;
use super::fragmentation::{GpuChange, ShapeFrag, WeightedShape};
use super::policy::{PolicyKind, ScoreMode};
use super::view::{GpuView, NodeView};
use crate::rng::SplitMix64;

/// A workload reduced to what fitting needs; `models` is sorted, `None` allows every model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub count: u32,
    pub mem: u64,
    pub milli: u32,
    pub cpu: u64,
    pub host_mem: u64,
    pub models: Option<Vec<u32>>,
}

impl Request {
    pub fn model_ok(&self, gpu: &GpuView) -> bool {
        self.models
            .as_ref()
            .is_none_or(|m| m.binary_search(&gpu.model).is_ok())
    }

    pub fn gpu_ok(&self, gpu: &GpuView) -> bool {
        self.model_ok(gpu) && gpu.hosts(self.mem, self.milli)
    }

    pub fn node_ok(&self, view: &NodeView) -> bool {
        view.cpu_free >= self.cpu && view.mem_free >= self.host_mem
    }
}

/// Lexicographic score: lower is better.
pub type Score = (f64, f64, f64);

/// The GPUs (positions in the view) a policy picked on one node, with their score.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub score: Score,
    pub gpus: Vec<usize>,
    /// How the GPUs sit relative to the node's topology groups.
    pub topology: Topology,
}

/// Whether a gang's GPUs were kept inside one topology group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// The node declares no groups, or the workload uses at most one GPU.
    NotApplicable,
    OneGroup,
    /// No single group could hold the gang.
    Spans,
}

/// What scoring needs besides the view: the shape distribution (for `fgd`; the view's
/// fragmentation terms, by distribution slot, are passed beside it), and the generator (for
/// `random`).
pub struct Scoring<'a> {
    pub policy: PolicyKind,
    pub mode: ScoreMode,
    pub shapes: &'a [WeightedShape],
    pub rng: Option<&'a mut SplitMix64>,
}

/// The best candidate on `view` for `req`, or `None` if it does not fit.
pub fn best_on_node(
    view: &NodeView,
    req: &Request,
    bases: &[ShapeFrag],
    scoring: &mut Scoring<'_>,
) -> Option<Candidate> {
    if scoring.mode.is_artifact() && scoring.policy.in_artifact() {
        return super::artifact::best_on_node(view, req, bases, scoring);
    }
    if !req.node_ok(view) {
        return None;
    }
    if req.count <= 1 {
        return best_single(view, req, bases, scoring);
    }
    let mut best: Option<Candidate> = None;
    for (pool, topology) in pools(view, req) {
        for gpus in candidate_sets(view, req, &pool, scoring) {
            let score = score(view, req, &gpus, bases, scoring);
            if best.as_ref().is_none_or(|b| score_lt(score, b.score)) {
                best = Some(Candidate {
                    score,
                    gpus,
                    topology,
                });
            }
        }
    }
    best
}

/// The common case without allocation: a GPU-less request, or one GPU scored on each eligible
/// GPU (interchangeable GPUs are scored once).
fn best_single(
    view: &NodeView,
    req: &Request,
    bases: &[ShapeFrag],
    scoring: &mut Scoring<'_>,
) -> Option<Candidate> {
    let single = |score, gpus| {
        Some(Candidate {
            score,
            gpus,
            topology: Topology::NotApplicable,
        })
    };
    if req.count == 0 {
        return single(score(view, req, &[], bases, scoring), Vec::new());
    }
    if scoring.policy == PolicyKind::Random {
        return random_single(view, req, scoring);
    }
    let mut best: Option<(Score, usize)> = None;
    for p in 0..view.gpus.len() {
        let gpu = &view.gpus[p];
        if !req.gpu_ok(gpu) || view.gpus[..p].iter().any(|q| q == gpu && req.gpu_ok(q)) {
            continue;
        }
        let s = score(view, req, &[p], bases, scoring);
        if scoring.policy == PolicyKind::FirstFit {
            return single(s, vec![p]);
        }
        if best.is_none_or(|(b, _)| score_lt(s, b)) {
            best = Some((s, p));
        }
    }
    best.and_then(|(s, p)| single(s, vec![p]))
}

fn random_single(view: &NodeView, req: &Request, scoring: &mut Scoring<'_>) -> Option<Candidate> {
    let eligible = view.gpus.iter().filter(|g| req.gpu_ok(g)).count();
    if eligible == 0 {
        return None;
    }
    let pick = scoring
        .rng
        .as_deref_mut()
        .map_or(0, |r| r.below(eligible as u64) as usize);
    let p = (0..view.gpus.len())
        .filter(|&p| req.gpu_ok(&view.gpus[p]))
        .nth(pick)?;
    Some(Candidate {
        score: (0.0, 0.0, 0.0),
        gpus: vec![p],
        topology: Topology::NotApplicable,
    })
}

/// Strict "better than" on scores, total over floats.
pub fn score_lt(a: Score, b: Score) -> bool {
    a.0.total_cmp(&b.0)
        .then(a.1.total_cmp(&b.1))
        .then(a.2.total_cmp(&b.2))
        .is_lt()
}

/// Sets of GPU positions to choose from: each topology group able to hold the whole gang, or
/// all eligible GPUs when no group can.
fn pools(view: &NodeView, req: &Request) -> Vec<(Vec<usize>, Topology)> {
    let eligible: Vec<usize> = (0..view.gpus.len())
        .filter(|&p| req.gpu_ok(&view.gpus[p]))
        .collect();
    let k = req.count as usize;
    if eligible.len() < k {
        return Vec::new();
    }
    if k <= 1 {
        return vec![(eligible, Topology::NotApplicable)];
    }
    let mut groups: Vec<u16> = eligible
        .iter()
        .map(|&p| view.gpus[p].group)
        .filter(|&g| g > 0)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    if groups.is_empty() {
        return vec![(eligible, Topology::NotApplicable)];
    }
    let grouped: Vec<(Vec<usize>, Topology)> = groups
        .into_iter()
        .map(|g| {
            eligible
                .iter()
                .copied()
                .filter(|&p| view.gpus[p].group == g)
                .collect::<Vec<_>>()
        })
        .filter(|pool| pool.len() >= k)
        .map(|pool| (pool, Topology::OneGroup))
        .collect();
    if grouped.is_empty() {
        vec![(eligible, Topology::Spans)]
    } else {
        grouped
    }
}

fn candidate_sets(
    view: &NodeView,
    req: &Request,
    pool: &[usize],
    scoring: &mut Scoring<'_>,
) -> Vec<Vec<usize>> {
    let k = req.count as usize;
    let leftover = |p: usize| view.gpus[p].after(req.mem, req.milli).share();
    match scoring.policy {
        PolicyKind::FirstFit => vec![pool[..k].to_vec()],
        PolicyKind::BestFit | PolicyKind::DotProd | PolicyKind::Clustering => {
            vec![take_sorted(pool, k, |p| (leftover(p), 0))]
        }
        PolicyKind::Spread => vec![take_sorted(pool, k, |p| (u32::MAX - leftover(p), 0))],
        PolicyKind::Packing => vec![take_sorted(pool, k, |p| {
            (!view.gpus[p].occupied as u32, leftover(p))
        })],
        PolicyKind::Random => vec![random_subset(pool, k, scoring.rng.as_deref_mut())],
        PolicyKind::Fgd | PolicyKind::FgdFill => vec![
            take_sorted(pool, k, |p| (leftover(p), 0)),
            take_sorted(pool, k, |p| (u32::MAX - leftover(p), 0)),
        ],
    }
}

fn take_sorted(pool: &[usize], k: usize, key: impl Fn(usize) -> (u32, u32)) -> Vec<usize> {
    let mut sorted = pool.to_vec();
    sorted.sort_by_key(|&p| (key(p), p));
    sorted.truncate(k);
    sorted.sort_unstable();
    sorted
}

fn random_subset(pool: &[usize], k: usize, rng: Option<&mut SplitMix64>) -> Vec<usize> {
    let mut items = pool.to_vec();
    if let Some(rng) = rng {
        for i in 0..k {
            let j = i + rng.below((items.len() - i) as u64) as usize;
            items.swap(i, j);
        }
    }
    items.truncate(k);
    items.sort_unstable();
    items
}

fn score(
    view: &NodeView,
    req: &Request,
    gpus: &[usize],
    bases: &[ShapeFrag],
    scoring: &Scoring<'_>,
) -> Score {
    let mut freed = 0;
    let mut gpu_left = 0.0;
    for &p in gpus {
        let after = view.gpus[p].after(req.mem, req.milli).share();
        freed += view.gpus[p].share() - after;
        gpu_left += after as f64;
    }
    let node_left = (view.total_share() - freed) as f64;
    let cpu_left = (view.cpu_free - req.cpu) as f64;
    match scoring.policy {
        PolicyKind::FirstFit | PolicyKind::Random => (0.0, 0.0, 0.0),
        PolicyKind::BestFit => (node_left, gpu_left, cpu_left),
        PolicyKind::Spread => (-node_left, -gpu_left, -cpu_left),
        PolicyKind::Packing => (packing_tier(view, gpus), node_left, gpu_left),
        PolicyKind::DotProd => (-dot_product(view, req), node_left, gpu_left),
        PolicyKind::Clustering => (-clustering(view, req), node_left, gpu_left),
        PolicyKind::Fgd => {
            let delta = quantize(frag_delta(view, req, gpus, bases, scoring.shapes));
            (delta, packing_tier(view, gpus), node_left * 1e5 + gpu_left)
        }
        PolicyKind::FgdFill => {
            let frag = frag_delta(view, req, gpus, bases, scoring.shapes);
            let taken = (req.mem, req.milli, req.cpu, req.host_mem);
            let fill = unfillable_delta(view, gpus, taken, scoring.shapes);
            let delta = quantize_to(frag + fill, FILL_SCORE_STEP);
            (delta, packing_tier(view, gpus), node_left * 1e5 + gpu_left)
        }
    }
}

/// Rounds to 1e-6 milli-GPU so that candidates equal in exact arithmetic tie, and the tie-break
/// (not float rounding noise) decides between them. Ties are common (a whole GPU taken from any
/// idle GPU changes nothing fragmented); they go to GPUs already in use, then busy nodes, then
/// the tightest node and GPUs, which keeps idle nodes whole for large gangs (+0.7 points on
/// openb over the lowest index).
/// `fgd_fill` compares candidates to a thousandth of a milli-GPU: closer sums are ties, which
/// the packing tier and the tightest node then decide.
const FILL_SCORE_STEP: f64 = 1e-3;

fn quantize_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step + 0.0
}

pub(super) fn quantize(x: f64) -> f64 {
    (x * 1e6).round() / 1e6 + 0.0
}

fn packing_tier(view: &NodeView, gpus: &[usize]) -> f64 {
    if !gpus.is_empty() && gpus.iter().all(|&p| view.gpus[p].occupied) {
        0.0
    } else if view.occupied {
        1.0
    } else {
        2.0
    }
}

/// Change of the node's expected fragmentation if `req` takes `gpus`; `bases` holds the node's
/// terms by distribution slot (see [`ShapeFrag::by_slot`]).
pub fn frag_delta(
    view: &NodeView,
    req: &Request,
    gpus: &[usize],
    bases: &[ShapeFrag],
    shapes: &[WeightedShape],
) -> f64 {
    let change = |&p: &usize| GpuChange::new(view.gpus[p], view.gpus[p].after(req.mem, req.milli));
    let one: [GpuChange; 1];
    let many: Vec<GpuChange>;
    let changes: &[GpuChange] = match gpus {
        [p] => {
            one = [change(p)];
            &one
        }
        _ => {
            many = gpus.iter().map(change).collect();
            &many
        }
    };
    let (cpu, mem) = (view.cpu_free - req.cpu, view.mem_free - req.host_mem);
    shapes
        .iter()
        .map(|w| {
            let base = &bases[w.slot];
            let after = base.changed(&w.shape, changes, cpu, mem).value(&w.shape);
            w.probability * (after as f64 - base.value(&w.shape) as f64)
        })
        .sum()
}
