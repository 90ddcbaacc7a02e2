//! Nodes grouped by identical state, so a decision scores each distinct state once.
//!
//! In a real fleet most nodes are in a handful of states (empty, full, a few partial shapes),
//! so the number of classes grows far slower than the number of GPUs. Each class also caches
//! its fragmentation terms per shape of the distribution.

use std::collections::{BTreeSet, HashMap};

use super::fragmentation::{ShapeFrag, WeightedShape};
use super::view::NodeView;

/// Interchangeable nodes sharing one sorted view.
#[derive(Debug, Clone)]
pub struct Class {
    pub view: NodeView,
    pub members: BTreeSet<usize>,
    frag: Vec<Option<ShapeFrag>>,
}

impl Class {
    /// The lowest node index, used to break ties deterministically.
    pub fn first(&self) -> usize {
        *self.members.first().expect("classes are never empty")
    }

    /// This class's fragmentation terms, aligned with `shapes`, computed on first use.
    pub fn bases(&mut self, shapes: &[WeightedShape]) -> Vec<ShapeFrag> {
        shapes
            .iter()
            .map(|w| {
                if self.frag.len() <= w.slot {
                    self.frag.resize(w.slot + 1, None);
                }
                match self.frag[w.slot] {
                    Some(f) if f.generation == w.generation => f,
                    _ => {
                        let f = ShapeFrag::of(&self.view, &w.shape, w.generation);
                        self.frag[w.slot] = Some(f);
                        f
                    }
                }
            })
            .collect()
    }
}

/// The classes and which class each node is in.
#[derive(Debug, Clone, Default)]
pub struct ClassIndex {
    by_view: HashMap<NodeView, usize>,
    classes: Vec<Option<Class>>,
    free_ids: Vec<usize>,
    node_class: Vec<usize>,
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
        self.classes[id]
            .as_mut()
            .expect("live class")
            .members
            .insert(node);
        if self.node_class.len() <= node {
            self.node_class.resize(node + 1, NONE);
        }
        self.node_class[node] = id;
    }

    fn new_class(&mut self, view: NodeView) -> usize {
        let class = Class {
            view: view.clone(),
            members: BTreeSet::new(),
            frag: Vec::new(),
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
        class.members.remove(&node);
        if class.members.is_empty() {
            let class = self.classes[id].take().expect("live class");
            self.by_view.remove(&class.view);
            self.free_ids.push(id);
        }
    }

    /// All live classes, mutably (their caches fill as they are scored).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Class> {
        self.classes.iter_mut().flatten()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Class> {
        self.classes.iter().flatten()
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.by_view.len()
    }
}
