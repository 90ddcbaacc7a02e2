//! The route loop: one pass over the replica slots that picks the best serving one.
//!
//! It reads the dense load column ([`Router`]'s `loads`, 8 bytes a slot) and prunes by it: a
//! slot that holds neither the prompt's prefix nor the adapter scores at most `-load` (the
//! fair term only lowers a score), so it is skipped unless that bound reaches the best score so
//! far. The few slots that can score above their bound (those in the prefix and adapter lists)
//! are scored first, so the bound prunes almost every other slot at once. A slot that is not
//! pruned reads its request-dependent inputs (short per-key lists sorted by slot, or the
//! tenant's dense excess column) and is scored exactly; the best under the tie-breaks is unique,
//! so the order slots are scored in does not change the choice.

use std::cmp::Ordering;

use super::excess::ExcessView;
use super::replica::RouteRequest;
use super::score::{self, Excess, RoutingPolicy};
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

/// The value of `slot`'s entry in `list` (sorted by slot), or `none`.
fn lookup<V: Copy>(list: &[(u32, V)], slot: u32, none: V) -> V {
    list.binary_search_by_key(&slot, |e| e.0)
        .map_or(none, |at| list[at].1)
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
    /// The tenant's account when the queue-share term scores (a weight and reported queues).
    queue: Option<u32>,
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

    /// The scoring policies: the pruned scan (see the module docs).
    fn best_scored(
        &self,
        req: &RouteRequest,
        tenant: Option<u32>,
        overlaps: &[(u32, u32)],
        serves: impl Fn(usize) -> bool,
    ) -> Option<Best> {
        let inputs = self.inputs(req, tenant, overlaps);
        let mut best = Best::NONE;
        for &(slot, prefix) in inputs.prefixes {
            self.consider(slot as usize, prefix, &inputs, &serves, &mut best);
        }
        for &(slot, _) in inputs.adapters {
            let prefix = lookup(inputs.prefixes, slot, 0);
            self.consider(slot as usize, prefix, &inputs, &serves, &mut best);
        }
        self.pruned_pass(&inputs, &serves, &mut best);
        if best.slot == usize::MAX {
            return None;
        }
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
        let queue = tenant.filter(|_| w.queue != 0.0 && self.queues.any());
        Inputs {
            prefixes,
            fair,
            dense,
            adapters,
            queue,
        }
    }

    /// Every slot whose bound `-load` reaches the best score so far, scored exactly. Slots go
    /// in chunks of 8: most chunks have none that reach it, which one branch tells.
    fn pruned_pass(&self, inputs: &Inputs<'_>, serves: &impl Fn(usize) -> bool, best: &mut Best) {
        let w = self.weights.load;
        // Not `>=`: a NaN bound is scored, never pruned.
        let reaches =
            |load: f64, floor: f64| (-w * load).partial_cmp(&floor) != Some(Ordering::Less);
        for (c, chunk) in self.loads.chunks(8).enumerate() {
            let floor = best.score;
            if !chunk.iter().fold(false, |any, &l| any | reaches(l, floor)) {
                continue;
            }
            for (i, &load) in chunk.iter().enumerate() {
                if reaches(load, best.score) {
                    let s = c * 8 + i;
                    let prefix = lookup(inputs.prefixes, s as u32, 0);
                    self.consider(s, prefix, inputs, serves, best);
                }
            }
        }
    }

    /// Scores slot `s` (`prefix` leading blocks cached there) exactly and keeps it in `best`
    /// if it serves and wins.
    #[inline(always)]
    fn consider(
        &self,
        s: usize,
        prefix: u32,
        inputs: &Inputs<'_>,
        serves: &impl Fn(usize) -> bool,
        best: &mut Best,
    ) {
        let slot = s as u32;
        let service = match inputs.dense.get(s) {
            Some(&e) => e,
            None => lookup(inputs.fair, slot, 0.0),
        };
        let queue = inputs.queue.map_or(0.0, |t| self.queues.excess(s, t));
        let excess = Excess { service, queue };
        let resident = lookup(inputs.adapters, slot, false);
        let score = score::terms(&self.weights, self.loads[s], prefix, resident, excess).total();
        // Most candidates lose on score alone (a NaN goes on to the tie-breaks).
        if score < best.score || !serves(s) {
            return;
        }
        let h = &self.hot[s];
        if best.beaten_by(score, h) {
            *best = Best::of(s, score, prefix, h);
        }
    }
}
