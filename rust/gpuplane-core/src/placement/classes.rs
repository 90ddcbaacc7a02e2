//! Nodes grouped by identical state, so a decision scores each distinct state once.
//!
//! In a real fleet most nodes are in a handful of states (empty, full, a few partial shapes),
//! so the number of classes grows far slower than the number of GPUs. Each class also caches
//! its fragmentation terms per shape of the distribution.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

use super::class_summary::{Glance, Summary};
use super::fragmentation::{ShapeFrag, WeightedShape};
use super::node_index::{mem_bound, tier_levels, NodeOrder, OrderKey, TIER_COUNT};
use super::view::{GpuView, NodeView};

/// Interchangeable nodes sharing one sorted view.
#[derive(Debug, Clone)]
pub struct Class {
    pub view: NodeView,
    pub members: BTreeSet<usize>,
    pub frag: FragCache,
    /// The view's total free share (milli-GPU), its place in the [`NodeOrder`].
    pub free: u32,
    /// Whether every healthy GPU's free share is set by its memory.
    pub mem_bound: bool,
    /// The class's level per gang tier (see [`tier_levels`]).
    pub levels: [u16; TIER_COUNT],
}

/// A class's fragmentation terms by distribution slot ([`ShapeFrag::NONE`] where not computed),
/// refreshed in place so scoring neither allocates nor copies them.
#[derive(Debug, Clone, Default)]
pub struct FragCache {
    by_slot: Vec<ShapeFrag>,
    /// The view's GPU free shares, computed once (the view of a class never changes).
    shares: Vec<u32>,
    /// The newest shape generation the terms account for: a distribution gives every new
    /// shape a generation above all earlier ones, so only slots newer than this are stale.
    seen: u64,
}

impl Class {
    /// The lowest node index, used to break ties deterministically.
    pub fn first(&self) -> usize {
        *self.members.first().expect("classes are never empty")
    }

    fn key(&self) -> OrderKey {
        OrderKey {
            first: self.first(),
            ..self.key_unchecked()
        }
    }

    /// Whether the class may host a request needing `level` in tier `tier` (from
    /// [`NodeOrder::hosting_level`]): a necessary condition, cheaper than
    /// [`super::node_index::fits`] as it reads no GPU.
    pub fn may_host(&self, (tier, level): (usize, u16)) -> bool {
        self.levels[tier] >= level
    }

    /// The key with `first` left 0 (for callers that supply it: the class may be empty).
    fn key_unchecked(&self) -> OrderKey {
        OrderKey {
            free: self.free,
            first: 0,
            mem_bound: self.mem_bound,
            levels: self.levels,
        }
    }
}

impl FragCache {
    /// The terms of `view` by distribution slot, those of `newest_first` (the distribution's
    /// shapes by generation, newest first; see [`newest_first`]) current.
    pub fn refresh(&mut self, view: &NodeView, newest_first: &[WeightedShape]) -> &[ShapeFrag] {
        if self.shares.len() != view.gpus.len() {
            self.shares = view.gpus.iter().map(GpuView::share).collect();
        }
        for w in unseen(newest_first, &mut self.seen) {
            if self.by_slot.len() <= w.slot {
                self.by_slot.resize(w.slot + 1, ShapeFrag::NONE);
            }
            self.by_slot[w.slot] = ShapeFrag::of_shares(view, &self.shares, &w.shape, w.generation);
        }
        &self.by_slot
    }
}

/// A distribution's shapes by generation, newest first (what [`FragCache::refresh`] takes).
pub fn newest_first(shapes: &[WeightedShape]) -> Vec<WeightedShape> {
    let mut out = shapes.to_vec();
    out.sort_unstable_by_key(|w| std::cmp::Reverse(w.generation));
    out
}

/// The shapes of `newest_first` newer than generation `seen`, which moves to the newest: what a
/// per-class cache must bring up to date.
pub fn unseen<'a>(
    newest_first: &'a [WeightedShape],
    seen: &mut u64,
) -> impl Iterator<Item = &'a WeightedShape> {
    let before = *seen;
    if let Some(w) = newest_first.first() {
        *seen = before.max(w.generation);
    }
    newest_first
        .iter()
        .take_while(move |w| w.generation > before)
}

/// The classes, which class each node is in, and the classes in order (see
/// [`super::node_index`]).
#[derive(Debug, Clone, Default)]
pub struct ClassIndex {
    by_view: FxHashMap<NodeView, usize>,
    classes: Vec<Option<Class>>,
    free_ids: Vec<usize>,
    node_class: Vec<usize>,
    order: NodeOrder,
    /// Per class id, what `fgd`'s first pass reads (dead where the class is gone).
    summaries: Vec<Summary>,
    /// By class id, beside `summaries`.
    glances: Vec<Glance>,
    /// GPUs of the indexed nodes.
    gpus: usize,
}

const NONE: usize = usize::MAX;

impl ClassIndex {
    /// Puts `node` in the class of `view` (a sorted view), leaving its previous class.
    pub fn set(&mut self, node: usize, view: NodeView) {
        self.remove(node);
        let id = match self.by_view.get(&view) {
            Some(&id) => id,
            None => self.new_class(view),
        };
        let class = self.classes[id].as_mut().expect("live class");
        let old_first = class.members.first().copied();
        class.members.insert(node);
        self.gpus += class.view.gpus.len();
        rekey(&mut self.order, id, class, old_first);
        if self.node_class.len() <= node {
            self.node_class.resize(node + 1, NONE);
        }
        self.node_class[node] = id;
    }

    fn new_class(&mut self, view: NodeView) -> usize {
        let class = Class {
            free: view.total_share(),
            mem_bound: mem_bound(&view),
            levels: tier_levels(&view),
            view: view.clone(),
            members: BTreeSet::new(),
            frag: FragCache::default(),
        };
        let summary = Summary::of(&class.view);
        let glance = Glance::of(&class.view, class.free, class.levels);
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.classes[id] = Some(class);
                self.summaries[id] = summary;
                self.glances[id] = glance;
                id
            }
            None => {
                self.classes.push(Some(class));
                self.summaries.push(summary);
                self.glances.push(glance);
                self.classes.len() - 1
            }
        };
        self.by_view.insert(view, id);
        id
    }

    /// Takes `node` out of its class; an emptied class is dropped.
    pub fn remove(&mut self, node: usize) {
        let Some(&id) = self.node_class.get(node) else {
            return;
        };
        if id == NONE {
            return;
        }
        self.node_class[node] = NONE;
        let class = self.classes[id].as_mut().expect("live class");
        let old_first = class.members.first().copied();
        class.members.remove(&node);
        self.gpus -= class.view.gpus.len();
        if !class.members.is_empty() {
            rekey(&mut self.order, id, class, old_first);
        } else {
            self.order.remove(
                id,
                OrderKey {
                    first: node,
                    ..class.key_unchecked()
                },
            );
            let class = self.classes[id].take().expect("live class");
            self.glances[id].live = false;
            self.by_view.remove(&class.view);
            self.free_ids.push(id);
        }
    }

    /// The live class `id` (an id the order holds).
    pub fn get(&self, id: usize) -> &Class {
        self.classes[id].as_ref().expect("live class")
    }

    /// The id of a node's class, if the node is indexed.
    pub fn id_of(&self, node: usize) -> Option<usize> {
        self.node_class.get(node).copied().filter(|&id| id != NONE)
    }

    /// The class of a node, if the node is indexed.
    pub fn class_of(&self, node: usize) -> Option<&Class> {
        let &id = self.node_class.get(node)?;
        self.classes.get(id)?.as_ref()
    }

    /// The live classes in order of free capacity and of lowest node index.
    pub fn order(&self) -> &NodeOrder {
        &self.order
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Class> {
        self.classes.iter_mut().flatten()
    }

    /// The live classes' glances and summaries with their ids (for [`ClassIndex::get`]).
    pub fn glances_mut(&mut self) -> impl Iterator<Item = (usize, &Glance, &mut Summary)> {
        (self.glances.iter().zip(self.summaries.iter_mut()))
            .enumerate()
            .filter(|(_, (g, _))| g.live)
            .map(|(id, (g, s))| (id, g, s))
    }

    /// The summary and glance of live class `id`.
    pub fn summary(&self, id: usize) -> (&Glance, &Summary) {
        (&self.glances[id], &self.summaries[id])
    }

    /// The live class `id`, to update its cached terms.
    pub fn get_mut(&mut self, id: usize) -> &mut Class {
        self.classes[id].as_mut().expect("live class")
    }

    pub fn iter(&self) -> impl Iterator<Item = &Class> {
        self.classes.iter().flatten()
    }

    /// The GPUs of every indexed node.
    pub fn gpus(&self) -> usize {
        self.gpus
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.by_view.len()
    }
}

/// Moves class `id` in the order after its members changed (its lowest index was `old_first`).
fn rekey(order: &mut NodeOrder, id: usize, class: &Class, old_first: Option<usize>) {
    match old_first {
        None => order.insert(id, class.key(), &class.view),
        Some(first) if first != class.first() => order.refirst(id, class.key(), first),
        Some(_) => {}
    }
}
