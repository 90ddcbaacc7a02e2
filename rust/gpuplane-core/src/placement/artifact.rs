//! Scoring as the FGD paper's artifact does (the Kubernetes scheduler simulator of Weng et al.,
//! USENIX ATC'23), so that its published table can be reproduced exactly.
//!
//! Every policy gives a node an integer score from 0 to 100 (higher is better) and ties go to
//! the lowest node index. Baselines score nodes only; the GPUs on the chosen node are then
//! picked by the artifact's rules: a GPU-sharing request takes the tightest GPU that fits
//! (a random one under `random`, the one with the best score under `fgd`), a request for
//! whole GPUs takes the first idle GPUs in index order. `fgd` scores a candidate by
//! `int(sigmoid((frag_before - frag_after) / 1000) x 100)`, fragmentation in milli-GPU.

use super::baselines::{best_fit_left, clustering, dot_product, shares_gpu};
use super::choose::{frag_delta, Candidate, Request, Scoring, Topology};
use super::fragmentation::ShapeFrag;
use super::policy::PolicyKind;
use super::view::NodeView;

/// The artifact's choice on `view` for `req`, scored `(-score, 0, 0)`, or `None` if it does
/// not fit.
pub fn best_on_node(
    view: &NodeView,
    req: &Request,
    bases: &[ShapeFrag],
    scoring: &mut Scoring<'_>,
) -> Option<Candidate> {
    if !req.node_ok(view) {
        return None;
    }
    let gpus = choose_gpus(view, req, bases, scoring)?;
    let score = node_score(view, req, &gpus, bases, scoring);
    Some(Candidate {
        score: (-(score as f64), 0.0, 0.0),
        gpus,
        topology: Topology::NotApplicable,
    })
}

fn choose_gpus(
    view: &NodeView,
    req: &Request,
    bases: &[ShapeFrag],
    scoring: &mut Scoring<'_>,
) -> Option<Vec<usize>> {
    let eligible: Vec<usize> = (0..view.gpus.len())
        .filter(|&p| req.gpu_ok(&view.gpus[p]))
        .collect();
    let k = req.count as usize;
    if eligible.len() < k {
        return None;
    }
    if k == 0 || !shares_gpu(req, &view.gpus[eligible[0]]) {
        return Some(eligible[..k].to_vec());
    }
    let pick = match scoring.policy {
        PolicyKind::Fgd => first_max(&eligible, |p| fgd_score(view, req, &[p], bases, scoring)),
        PolicyKind::Random => random_pick(&eligible, scoring),
        _ => first_max(&eligible, |p| -(view.gpus[p].share() as i64)),
    };
    Some(vec![pick])
}

/// The first of `items` with the largest key.
fn first_max(items: &[usize], key: impl Fn(usize) -> i64) -> usize {
    let mut best = (i64::MIN, items[0]);
    for &p in items {
        let k = key(p);
        if k > best.0 {
            best = (k, p);
        }
    }
    best.1
}

fn random_pick(items: &[usize], scoring: &mut Scoring<'_>) -> usize {
    let i = scoring
        .rng
        .as_deref_mut()
        .map_or(0, |r| r.below(items.len() as u64) as usize);
    items[i]
}

fn node_score(
    view: &NodeView,
    req: &Request,
    gpus: &[usize],
    bases: &[ShapeFrag],
    scoring: &Scoring<'_>,
) -> i64 {
    match scoring.policy {
        PolicyKind::FirstFit | PolicyKind::Random => 0,
        PolicyKind::BestFit => best_fit_left(view, req) as i64,
        PolicyKind::Spread => 100 - best_fit_left(view, req) as i64,
        PolicyKind::DotProd => dot_product(view, req) as i64,
        PolicyKind::Clustering => clustering(view, req) as i64,
        PolicyKind::Packing => packing_score(view, req, gpus),
        PolicyKind::Fgd | PolicyKind::FgdFill => fgd_score(view, req, gpus, bases, scoring),
    }
}

/// `int(sigmoid(-delta / 1000) x 100)` for the change of expected fragmentation `delta`.
fn fgd_score(
    view: &NodeView,
    req: &Request,
    gpus: &[usize],
    bases: &[ShapeFrag],
    scoring: &Scoring<'_>,
) -> i64 {
    let delta = frag_delta(view, req, gpus, bases, scoring.shapes);
    let sigmoid = 1.0 / (1.0 + (delta / 1000.0).exp());
    (sigmoid * 100.0) as i64
}

/// The artifact's packing score: sharing used GPUs scores 50..100 (less left on them is
/// better), idle GPUs of a used node 33..50 (fewer is better), an idle node 0..33.
fn packing_score(view: &NodeView, req: &Request, gpus: &[usize]) -> i64 {
    if req.count == 0 {
        return 0;
    }
    let idle = view.gpus.iter().filter(|g| !g.occupied).count() as i64;
    if idle == view.gpus.len() as i64 {
        return (33 - idle).max(idle);
    }
    let idle_used = gpus.iter().filter(|&&p| !view.gpus[p].occupied).count() as i64;
    if idle_used > 0 {
        return (50 - idle_used).max(33);
    }
    let left: i64 = gpus
        .iter()
        .map(|&p| view.gpus[p].share() as i64 * 100 / 1000)
        .sum();
    (100 - left / 10).max(50)
}
