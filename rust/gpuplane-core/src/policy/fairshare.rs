//! Hierarchical fair share, recomputed incrementally.
//!
//! # The split at one node
//! A node's share `C` (the cluster capacity at the root) is split among its children, per
//! resource, in three phases. With `cap = min(demand, limit)` for each child (demand of an
//! inner node is its children's capped demand summed):
//!
//! 1. **Guaranteed**: each child gets `min(cap, guaranteed)`. The unused part of a guarantee,
//!    `max(0, guaranteed - cap)`, is *held*: never lent, so it is not part of the surplus.
//!    (If the guarantees alone exceed `C`, they are scaled down proportionally.)
//! 2. **Deserved**: each child gets up to `min(cap, deserved)`; if that exceeds what is left,
//!    each gets the same fraction of its want.
//! 3. **Surplus**: what is left is water-filled over the children, highest over-quota
//!    priority first; within a priority, in proportion to the effective weight, each child
//!    capped by `cap`. Whatever no child can use stays unassigned.
//!
//! The effective weight lowers a child's over-quota share in proportion to what it used:
//!
//! ```text
//! w_eff(c, r) = over_quota_weight(c) * (1 - usage_factor * u(c, r) / sum_{s in siblings} u(s, r))
//! ```
//!
//! where `u` is decayed usage (see [`super::usage`]) and `usage_factor` is in `[0, 1)`. Usage
//! ratios do not change with decay alone, so shares only go stale when something is charged.
//!
//! So every share is at most its demand and limit, at least `min(demand, guaranteed)` (when
//! guarantees fit), and the children's shares sum to at most the parent's.
//!
//! # Incremental recomputation
//! Each node stores its share and a `stale` flag meaning "my children's shares must be
//! recomputed". A demand or usage change at a leaf updates capped demand on its path and marks
//! the path stale: O(depth). Resolving a leaf recomputes the split at each stale node on its
//! path (the path and its siblings, O(depth x siblings)); a sibling whose share changed is
//! marked stale itself, so its own subtree is recomputed only when something below it is read.
//! Reading never depends on the order of updates: a lazily resolved share is bit-for-bit the
//! share a full recomputation gives.

use super::resources::{Resource, Resources, NUM_RESOURCES};
use super::tree::{Tree, ROOT};

/// Parameters of the split that come from the engine's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ShareParams {
    pub half_life_s: f64,
    pub usage_factor: f64,
}

/// One child's claim on one resource.
#[derive(Debug, Clone, Copy)]
struct Claim {
    guaranteed: f64,
    deserved: f64,
    cap: f64,
    priority: i32,
    weight: f64,
}

/// Splits `total` among `claims` (see the module docs); `out` gets each child's amount.
fn split(claims: &[Claim], total: f64, out: &mut [f64]) {
    let mut given = 0.0;
    let mut held = 0.0;
    for (o, c) in out.iter_mut().zip(claims) {
        *o = c.cap.min(c.guaranteed);
        given += *o;
        held += (c.guaranteed - c.cap).max(0.0);
    }
    if given > total {
        let k = if given > 0.0 { total / given } else { 0.0 };
        out.iter_mut().for_each(|o| *o *= k);
        return;
    }
    let rem = total - given - held;
    if rem > 0.0 {
        let rem = give_deserved(claims, rem, out);
        if rem > 0.0 {
            give_surplus(claims, rem, out);
        }
    }
}

/// Phase 2; returns what is left.
fn give_deserved(claims: &[Claim], rem: f64, out: &mut [f64]) -> f64 {
    let want = |c: &Claim, o: f64| (c.cap.min(c.deserved) - o).max(0.0);
    let total_want: f64 = claims
        .iter()
        .zip(out.iter())
        .map(|(c, &o)| want(c, o))
        .sum();
    let k = if total_want > rem {
        rem / total_want
    } else {
        1.0
    };
    for (o, c) in out.iter_mut().zip(claims) {
        *o += want(c, *o) * k;
    }
    (rem - total_want).max(0.0)
}

/// Phase 3: water-fill by priority (descending), then weight.
fn give_surplus(claims: &[Claim], mut rem: f64, out: &mut [f64]) {
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(claims[i].priority));
    let mut start = 0;
    while start < order.len() && rem > 0.0 {
        let prio = claims[order[start]].priority;
        let end = start + order[start..].partition_point(|&i| claims[i].priority == prio);
        rem = water_fill(claims, &order[start..end], rem, out);
        start = end;
    }
}

/// Water-fills `rem` over `members` by weight, each up to its cap; returns what is left.
fn water_fill(claims: &[Claim], members: &[usize], rem: f64, out: &mut [f64]) -> f64 {
    let mut open: Vec<(f64, usize)> = members
        .iter()
        .filter(|&&i| claims[i].weight > 0.0 && claims[i].cap > out[i])
        .map(|&i| (claims[i].cap - out[i], i))
        .collect();
    let headroom: f64 = open.iter().map(|o| o.0).sum();
    if headroom <= rem {
        open.iter().for_each(|&(h, i)| out[i] += h);
        return rem - headroom;
    }
    open.sort_by(|a, b| {
        let (ka, kb) = (a.0 / claims[a.1].weight, b.0 / claims[b.1].weight);
        ka.total_cmp(&kb).then(a.1.cmp(&b.1))
    });
    let mut left = rem;
    let mut wsum: f64 = open.iter().map(|o| claims[o.1].weight).sum();
    for (k, &(h, i)) in open.iter().enumerate() {
        let w = claims[i].weight;
        if h * wsum <= left * w {
            out[i] += h;
            left -= h;
            wsum -= w;
            continue;
        }
        for &(_, j) in &open[k..] {
            out[j] += left * claims[j].weight / wsum;
        }
        return 0.0;
    }
    left
}

impl Tree {
    /// The children's shares of node `p` when `p`'s share is `share`.
    pub(crate) fn child_shares(
        &self,
        p: usize,
        share: Resources,
        sp: ShareParams,
    ) -> Vec<Resources> {
        let node = self.node(p);
        let kids = &node.children;
        let t = node.usage.stamp;
        let usage: Vec<Resources> = kids
            .iter()
            .map(|&c| self.node(c).usage.at(t, sp.half_life_s))
            .collect();
        let total_usage = usage.iter().fold(Resources::ZERO, |a, &u| a.plus(u));
        let mut out = vec![Resources::ZERO; kids.len()];
        let mut claims = Vec::with_capacity(kids.len());
        let mut amounts = vec![0.0; kids.len()];
        for r in Resource::ALL {
            claims.clear();
            for (k, &c) in kids.iter().enumerate() {
                let frac = fraction(usage[k].get(r), total_usage.get(r));
                claims.push(self.claim(c, r, 1.0 - sp.usage_factor * frac));
            }
            split(&claims, share.get(r), &mut amounts);
            for (o, &a) in out.iter_mut().zip(&amounts) {
                o.set(r, a);
            }
        }
        out
    }

    fn claim(&self, c: usize, r: Resource, weight_factor: f64) -> Claim {
        let n = self.node(c);
        let q = &n.spec.quota;
        Claim {
            guaranteed: q.guaranteed.get(r),
            deserved: q.deserved.get(r),
            cap: n.capped.get(r),
            priority: q.over_quota_priority,
            weight: q.over_quota_weight * weight_factor,
        }
    }

    /// Recomputes the children of `p` if it is stale; children whose share changed and that
    /// have children become stale.
    pub(crate) fn refresh_node(&mut self, p: usize, sp: ShareParams) {
        if !self.node(p).stale {
            return;
        }
        let shares = self.child_shares(p, self.node(p).share, sp);
        let kids = std::mem::take(&mut self.node_mut(p).children);
        for (&c, s) in kids.iter().zip(shares) {
            let n = self.node_mut(c);
            if n.share != s {
                n.share = s;
                n.stale |= !n.children.is_empty();
            }
        }
        let n = self.node_mut(p);
        n.children = kids;
        n.stale = false;
    }

    /// Makes the share of `i` current: refreshes the stale nodes on its path, top-down.
    pub(crate) fn resolve(&mut self, i: usize, sp: ShareParams) {
        for n in self.path(i) {
            if n != i {
                self.refresh_node(n, sp);
            }
        }
    }

    /// Makes every share current, recomputing only stale nodes (parents before children).
    pub(crate) fn refresh_all(&mut self, sp: ShareParams) {
        for p in self.bfs() {
            self.refresh_node(p, sp);
        }
    }

    /// The share of `i` without changing anything (computed on the fly below a stale node).
    pub(crate) fn share_of(&self, i: usize, sp: ShareParams) -> Resources {
        let path = self.path(i);
        let Some(top) = path[..path.len() - 1]
            .iter()
            .position(|&n| self.node(n).stale)
        else {
            return self.node(i).share;
        };
        let mut share = self.node(path[top]).share;
        for w in path[top..].windows(2) {
            let pos = self.node(w[0]).children.iter().position(|&c| c == w[1]);
            share = pos.map_or(Resources::ZERO, |k| self.child_shares(w[0], share, sp)[k]);
        }
        share
    }

    /// Every node's share computed from scratch (the baseline of the incremental path), in
    /// breadth-first order.
    pub(crate) fn full_shares(
        &self,
        capacity: Resources,
        sp: ShareParams,
    ) -> Vec<(usize, Resources)> {
        let mut out = vec![(ROOT, capacity)];
        let mut k = 0;
        while k < out.len() {
            let (p, share) = out[k];
            let kids = &self.node(p).children;
            if !kids.is_empty() {
                let shares = self.child_shares(p, share, sp);
                out.extend(kids.iter().copied().zip(shares));
            }
            k += 1;
        }
        out
    }

    /// Recomputes capped demand of `i` and its ancestors.
    pub(crate) fn update_capped(&mut self, i: usize) {
        let path: Vec<usize> = self.ancestors(i).collect();
        for n in path {
            let node = self.node(n);
            let raw = if node.children.is_empty() {
                node.demand
            } else {
                let sum = node.children.iter().map(|&c| self.node(c).capped);
                sum.fold(Resources::ZERO, Resources::plus)
            };
            let capped = raw.min(node.spec.quota.limit.as_resources());
            self.node_mut(n).capped = capped;
        }
    }

    /// Marks `i` (if it has children) and its ancestors stale.
    pub(crate) fn mark_stale(&mut self, i: usize) {
        let path: Vec<usize> = self.ancestors(i).collect();
        for n in path {
            let node = self.node_mut(n);
            node.stale |= !node.children.is_empty() || n == ROOT;
        }
    }
}

/// `part / whole`, 0 when `whole` is 0.
fn fraction(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// `max_r alloc_r / denom_r`, with `0 / 0 = 0` and `x / 0 = INFINITY` for `x > 0`.
pub fn max_ratio(alloc: &Resources, denom: &Resources) -> f64 {
    (0..NUM_RESOURCES)
        .map(|r| match (alloc.0[r], denom.0[r]) {
            (a, _) if a <= 0.0 => 0.0,
            (a, d) if d > 0.0 => a / d,
            _ => f64::INFINITY,
        })
        .fold(0.0, f64::max)
}
