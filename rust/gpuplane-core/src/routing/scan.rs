//! The route loop: one pass over the replica slots that picks the best serving one.
//!
//! It reads dense per-slot columns ([`Router`]'s `loads` and `rr_keys`, 8 and 16 bytes a
//! slot) and touches a slot's other figures only when it can win on score. The
//! request-dependent terms come from short per-key lists read as cursors (the few slots
//! holding the prompt's prefix or the adapter) or from a dense column (the tenant's excess
//! when it has one on many slots); a term whose weight is 0 adds 0 whatever its input, so its
//! input is not read, and each combination of read inputs is its own loop (const generics).

use std::cmp::Ordering;

use super::excess::ExcessView;
use super::replica::RouteRequest;
use super::score::{self, RoutingPolicy};
use super::{Hot, Router};

/// The best candidate so far, with the fields its tie-breaks read.
#[derive(Clone, Copy)]
pub(crate) struct Best {
    pub slot: usize,
    pub score: f64,
    pub prefix: u32,
    waiting: u32,
    in_flight: u32,
    rank: u32,
}

impl Best {
    const NONE: Best = Best {
        slot: usize::MAX,
        score: f64::NEG_INFINITY,
        prefix: 0,
        waiting: 0,
        in_flight: 0,
        rank: 0,
    };

    pub(super) fn of(slot: usize, score: f64, prefix: u32, h: &Hot) -> Best {
        Best {
            slot,
            score,
            prefix,
            waiting: h.waiting,
            in_flight: h.in_flight,
            rank: h.rank,
        }
    }

    /// Whether slot `h` of `score` beats it: higher score, then fewer waiting, then fewer in
    /// flight, then the greater rank (a NaN score ties on score).
    fn beaten_by(&self, score: f64, h: &Hot) -> bool {
        if self.slot == usize::MAX {
            return true;
        }
        let by_score = score.partial_cmp(&self.score).unwrap_or(Ordering::Equal);
        let order = by_score
            .then_with(|| self.waiting.cmp(&h.waiting))
            .then_with(|| self.in_flight.cmp(&h.in_flight))
            .then_with(|| h.rank.cmp(&self.rank));
        order == Ordering::Greater
    }
}

/// Round robin's order of slot `h`: fewest dispatched, then the smaller rank.
pub(crate) fn rr_key(h: &Hot) -> u128 {
    (u128::from(h.routed) << 32) | u128::from(h.rank)
}

/// The value of the entry for slot `s` at position `*at` of sorted `list` (then moved past),
/// or `none`: a cursor that the route loop advances slot by slot, without branches.
#[inline(always)]
fn cursor<V: Copy>(list: &[(u32, V)], at: &mut usize, s: u32, none: V) -> V {
    let (slot, v) = list.get(*at).copied().unwrap_or((u32::MAX, none));
    let hit = slot == s;
    *at += usize::from(hit);
    if hit {
        v
    } else {
        none
    }
}

/// The leading prompt blocks slot `s` has cached, by `overlaps` (sorted by slot).
pub(crate) fn overlap_of(overlaps: &[(u32, u32)], s: usize) -> u32 {
    overlaps
        .binary_search_by_key(&(s as u32), |o| o.0)
        .map_or(0, |at| overlaps[at].1)
}

/// The inputs of the request-dependent terms, as the loop reads them.
struct Inputs<'a> {
    prefixes: &'a [(u32, u32)],
    fair: &'a [(u32, f64)],
    dense: &'a [f64],
    adapters: &'a [(u32, bool)],
}

impl Router {
    /// The best serving slot (`serves`) for `req` under the router's policy, with the leading
    /// blocks it has cached (by `overlaps`).
    pub(crate) fn choose(
        &self,
        req: &RouteRequest,
        tenant: Option<u32>,
        overlaps: &[(u32, u32)],
        serves: impl Fn(usize) -> bool,
    ) -> Option<Best> {
        if self.options.policy == RoutingPolicy::RoundRobin {
            let mut b = self.fewest_routed(serves)?;
            b.prefix = overlap_of(overlaps, b.slot);
            return Some(b);
        }
        self.best_scored(req, tenant, overlaps, serves)
    }

    /// Round robin: the serving replica dispatched to least often (score `-routed`), then the
    /// smaller id.
    fn fewest_routed(&self, serves: impl Fn(usize) -> bool) -> Option<Best> {
        let mut best = (usize::MAX, u128::MAX);
        for (s, &key) in self.rr_keys.iter().enumerate() {
            if key < best.1 && serves(s) {
                best = (s, key);
            }
        }
        let h = self.hot.get(best.0)?;
        Some(Best::of(best.0, -(h.routed as f64), 0, h))
    }

    /// The scoring policies, by the loop that reads just the term inputs the request has.
    fn best_scored(
        &self,
        req: &RouteRequest,
        tenant: Option<u32>,
        overlaps: &[(u32, u32)],
        serves: impl Fn(usize) -> bool,
    ) -> Option<Best> {
        let inputs = self.inputs(req, tenant, overlaps);
        let some = |l: usize| l != 0;
        let kinds = (
            some(inputs.prefixes.len()),
            some(inputs.fair.len()),
            some(inputs.dense.len()),
            some(inputs.adapters.len()),
        );
        let mut best = match kinds {
            (false, false, false, false) => {
                self.scan::<false, false, false, false>(&inputs, serves)
            }
            (true, false, false, false) => self.scan::<true, false, false, false>(&inputs, serves),
            (false, false, true, false) => self.scan::<false, false, true, false>(&inputs, serves),
            (true, false, true, false) => self.scan::<true, false, true, false>(&inputs, serves),
            (false, true, false, false) => self.scan::<false, true, false, false>(&inputs, serves),
            (true, true, false, false) => self.scan::<true, true, false, false>(&inputs, serves),
            _ => self.scan::<true, true, true, true>(&inputs, serves),
        }?;
        if inputs.prefixes.is_empty() {
            best.prefix = overlap_of(overlaps, best.slot);
        }
        Some(best)
    }

    /// The term inputs the loop reads for `req` (empty where the weight is 0 or none apply).
    fn inputs<'a>(
        &'a self,
        req: &RouteRequest,
        tenant: Option<u32>,
        overlaps: &'a [(u32, u32)],
    ) -> Inputs<'a> {
        let w = &self.weights;
        let view = match tenant {
            Some(t) if w.fair != 0.0 => self.fair.view(t),
            _ => ExcessView::Sparse(&[]),
        };
        let (fair, dense) = match view {
            ExcessView::Sparse(list) => (list, &[][..]),
            ExcessView::Dense(col) => (&[][..], col),
        };
        let adapters = match req.adapter.is_empty() || w.adapter == 0.0 {
            true => &[],
            false => self.adapters.get(req.adapter.as_str()),
        };
        let prefixes = if w.prefix != 0.0 { overlaps } else { &[] };
        Inputs {
            prefixes,
            fair,
            dense,
            adapters,
        }
    }

    /// The route loop, with the inputs it reads (`P` prefixes, `F` sparse excess, `D` dense
    /// excess, `A` adapters) fixed at compile time.
    fn scan<const P: bool, const F: bool, const D: bool, const A: bool>(
        &self,
        inputs: &Inputs<'_>,
        serves: impl Fn(usize) -> bool,
    ) -> Option<Best> {
        let w = &self.weights;
        let (mut pi, mut fi, mut ai) = (0, 0, 0);
        let mut best = Best::NONE;
        let dense = if D { inputs.dense } else { &[] };
        for (s, &load) in self.loads.iter().enumerate() {
            let slot = s as u32;
            // Few slots hold the prompt's prefix: a predictable branch beats a data dependency.
            let prefix = match inputs.prefixes.get(pi) {
                Some(&(at, depth)) if P && at == slot => {
                    pi += 1;
                    depth
                }
                _ => 0,
            };
            let excess = match (D, F) {
                (true, _) if !dense.is_empty() => dense[s],
                (_, true) => cursor(inputs.fair, &mut fi, slot, 0.0),
                _ => 0.0,
            };
            let resident = A && cursor(inputs.adapters, &mut ai, slot, false);
            let score = score::terms(w, load, prefix, resident, excess).total();
            // Most candidates lose on score alone (a NaN goes on to the tie-breaks).
            if score < best.score || !serves(s) {
                continue;
            }
            let h = &self.hot[s];
            if best.beaten_by(score, h) {
                best = Best::of(s, score, prefix, h);
            }
        }
        (best.slot != usize::MAX).then_some(best)
    }
}
