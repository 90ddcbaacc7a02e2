//! Nodes grouped by identical state, so a decision scores each distinct state once.
//!
//! In a real fleet most nodes are in a handful of states (empty, full, a few partial shapes),
//! so the number of classes grows far slower than the number of GPUs. Each class also caches
//! its fragmentation terms per shape of the distribution.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

use super::fragmentation::{ShapeFrag, WeightedShape};
use super::node_index::{mem_bound, tier_levels, NodeOrder, OrderKey, TIER_COUNT};
use super::view::NodeView;

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
    /// The terms of `view` by distribution slot, those of `shapes` current (each computed
    /// when its shape's generation is new to the class).
    pub fn bases(&mut self, view: &NodeView, shapes: &[WeightedShape]) -> &[ShapeFrag] {
        for w in shapes {
            if self.by_slot.len() <= w.slot {
                self.by_slot.resize(w.slot + 1, ShapeFrag::NONE);
            }
            let cell = &mut self.by_slot[w.slot];
            if cell.generation != w.generation {
                *cell = ShapeFrag::of(view, &w.shape, w.generation);
            }
        }
        &self.by_slot
    }
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
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.classes[id] = Some(class);
                id
            }
            None => {
                self.classes.push(Some(class));
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
            self.by_view.remove(&class.view);
            self.free_ids.push(id);
        }
    }

    /// The live class `id` (an id the order holds).
    pub fn get(&self, id: usize) -> &Class {
        self.classes[id].as_ref().expect("live class")
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
