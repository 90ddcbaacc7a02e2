//! Expected fragmentation, the measure `fgd` minimizes (Weng et al., USENIX ATC'23).
//!
//! For a workload shape `m`, a node's free GPU capacity is fragmented if `m` cannot use it:
//! all of it when `m` cannot run on the node at all (too few GPUs that can host it, not enough
//! CPU or host memory, or `m` asks for no GPU), otherwise the free share of each GPU that
//! cannot host one GPU's worth of `m`. A node's expected fragmentation is the average over the
//! shape distribution, weighted by each shape's probability.

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

use super::view::{GpuView, NodeView};

/// The resource shape of a workload, without its identity or constraints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    pub gpu_count: u32,
    pub memory_mib: u64,
    pub compute_milli: u32,
    pub cpu_milli: u64,
    pub host_memory_mib: u64,
}

impl Shape {
    fn gpu_hosts(&self, gpu: &GpuView) -> bool {
        gpu.hosts(self.memory_mib, self.compute_milli)
    }

    /// Whether free host resources hold this shape's CPU and host memory.
    pub fn node_hosts(&self, cpu_free: u64, mem_free: u64) -> bool {
        cpu_free >= self.cpu_milli && mem_free >= self.host_memory_mib
    }

    /// Whether a node runs this shape, given how many of its GPUs can each host one GPU's
    /// worth and whether its host resources do (a GPU-less shape never uses GPU capacity).
    pub fn runs_on(&self, hostable_gpus: u32, node_ok: bool) -> bool {
        self.gpu_count > 0 && node_ok && hostable_gpus >= self.gpu_count
    }
}

/// The fragmentation terms of one node for one shape, kept so a candidate's change can be
/// computed from the GPUs it touches alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapeFrag {
    pub generation: u64,
    total_share: u32,
    hostable: u32,
    unhostable_share: u32,
    node_ok: bool,
}

impl ShapeFrag {
    /// No terms: generation 0, which no shape of a distribution has (they start at 1).
    pub const NONE: ShapeFrag = ShapeFrag {
        generation: 0,
        total_share: 0,
        hostable: 0,
        unhostable_share: 0,
        node_ok: false,
    };

    /// The terms of `view` for every shape of `shapes`, by distribution slot (what scoring
    /// takes as `bases`; slots without a shape hold [`ShapeFrag::NONE`]).
    pub fn by_slot(view: &NodeView, shapes: &[WeightedShape]) -> Vec<ShapeFrag> {
        let slots = shapes.iter().map(|w| w.slot + 1).max().unwrap_or(0);
        let mut out = vec![ShapeFrag::NONE; slots];
        for w in shapes {
            out[w.slot] = ShapeFrag::of(view, &w.shape, w.generation);
        }
        out
    }

    /// The terms of `view` for `shape`.
    pub fn of(view: &NodeView, shape: &Shape, generation: u64) -> ShapeFrag {
        ShapeFrag::tally(
            view,
            view.gpus.iter().map(GpuView::share),
            shape,
            generation,
        )
    }

    /// [`ShapeFrag::of`] with the free share of each of the view's GPUs given (a share costs
    /// two divisions; a class computes them once).
    pub fn of_shares(view: &NodeView, shares: &[u32], shape: &Shape, generation: u64) -> ShapeFrag {
        ShapeFrag::tally(view, shares.iter().copied(), shape, generation)
    }

    fn tally(
        view: &NodeView,
        shares: impl Iterator<Item = u32>,
        shape: &Shape,
        generation: u64,
    ) -> ShapeFrag {
        let mut out = ShapeFrag {
            generation,
            total_share: 0,
            hostable: 0,
            unhostable_share: 0,
            node_ok: shape.node_hosts(view.cpu_free, view.mem_free),
        };
        for (gpu, share) in view.gpus.iter().zip(shares) {
            out.total_share += share;
            if shape.gpu_hosts(gpu) {
                out.hostable += 1;
            } else {
                out.unhostable_share += share;
            }
        }
        out
    }

    /// Whether the node can host `shape` (a GPU-less shape never uses GPU capacity).
    pub fn hosts(&self, shape: &Shape) -> bool {
        shape.runs_on(self.hostable, self.node_ok)
    }

    /// Fragmented capacity (milli-GPU) of the node for this shape.
    pub fn value(&self, shape: &Shape) -> u32 {
        if self.hosts(shape) {
            self.unhostable_share
        } else {
            self.total_share
        }
    }

    /// The terms after the GPUs of `changes` change and host resources to the given free.
    pub fn changed(
        &self,
        shape: &Shape,
        changes: &[GpuChange],
        cpu_free: u64,
        mem_free: u64,
    ) -> ShapeFrag {
        let mut out = *self;
        out.node_ok = shape.node_hosts(cpu_free, mem_free);
        for c in changes {
            let (s0, s1) = (c.share_before, c.share_after);
            out.total_share = out.total_share + s1 - s0;
            let (h0, h1) = (shape.gpu_hosts(&c.before), shape.gpu_hosts(&c.after));
            out.hostable = out.hostable + h1 as u32 - h0 as u32;
            let unhost0 = if h0 { 0 } else { s0 };
            let unhost1 = if h1 { 0 } else { s1 };
            out.unhostable_share = out.unhostable_share + unhost1 - unhost0;
        }
        out
    }
}

/// One GPU before and after a candidate placement, with both free shares computed once for
/// every shape the change is scored against (a share costs two divisions).
#[derive(Debug, Clone, Copy)]
pub struct GpuChange {
    before: GpuView,
    after: GpuView,
    share_before: u32,
    share_after: u32,
}

impl GpuChange {
    pub fn new(before: GpuView, after: GpuView) -> GpuChange {
        GpuChange {
            before,
            after,
            share_before: before.share(),
            share_after: after.share(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Slot {
    shape: Shape,
    weight: f64,
    generation: u64,
}

/// A probability distribution over workload shapes, learned online with exponential decay or
/// given by the caller. At most `capacity` shapes are kept; the lightest is forgotten first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShapeDistribution {
    slots: Vec<Option<Slot>>,
    increment: f64,
    decay: f64,
    capacity: usize,
    learning: bool,
    next_generation: u64,
    #[serde(skip)]
    index: FxHashMap<Shape, usize>,
}

/// One shape of the distribution with its slot, generation and probability.
#[derive(Debug, Clone, Copy)]
pub struct WeightedShape {
    pub slot: usize,
    pub generation: u64,
    pub shape: Shape,
    pub probability: f64,
}

impl Default for ShapeDistribution {
    fn default() -> Self {
        ShapeDistribution {
            slots: Vec::new(),
            increment: 1.0,
            decay: 0.995,
            capacity: 32,
            learning: true,
            next_generation: 1,
            index: FxHashMap::default(),
        }
    }
}

impl PartialEq for ShapeDistribution {
    fn eq(&self, other: &Self) -> bool {
        self.slots == other.slots
            && self.increment == other.increment
            && self.decay == other.decay
            && self.capacity == other.capacity
            && self.learning == other.learning
            && self.next_generation == other.next_generation
    }
}

impl ShapeDistribution {
    /// Rebuilds the shape lookup after deserialization.
    pub fn reindex(&mut self) {
        self.index = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (s.shape, i)))
            .collect();
    }

    /// Counts one more request of `shape` (only while learning).
    pub fn observe(&mut self, shape: Shape) {
        if !self.learning {
            return;
        }
        self.increment /= self.decay;
        if self.increment > 1e200 {
            self.rescale();
        }
        let increment = self.increment;
        match self.index.get(&shape) {
            Some(&i) => self.slots[i].as_mut().expect("indexed slot").weight += increment,
            None => self.insert(shape, increment),
        }
    }

    fn rescale(&mut self) {
        let factor = 1.0 / self.increment;
        for slot in self.slots.iter_mut().flatten() {
            slot.weight *= factor;
        }
        self.increment = 1.0;
    }

    fn insert(&mut self, shape: Shape, weight: f64) {
        let slot = Slot {
            shape,
            weight,
            generation: self.next_generation,
        };
        self.next_generation += 1;
        let live = self.index.len();
        let i = if live < self.capacity {
            match self.slots.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    self.slots.push(None);
                    self.slots.len() - 1
                }
            }
        } else {
            let i = self.lightest();
            let old = self.slots[i].take().expect("lightest slot is live");
            self.index.remove(&old.shape);
            i
        };
        self.index.insert(shape, i);
        self.slots[i] = Some(slot);
    }

    fn lightest(&self) -> usize {
        let mut best = (f64::INFINITY, 0);
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(s) = s {
                if s.weight < best.0 {
                    best = (s.weight, i);
                }
            }
        }
        best.1
    }

    /// Replaces the distribution by a fixed one and stops learning; `None` resumes learning
    /// from scratch.
    pub fn set_given(&mut self, given: Option<Vec<(Shape, f64)>>) {
        self.slots.clear();
        self.index.clear();
        self.increment = 1.0;
        self.learning = given.is_none();
        for (shape, weight) in given.unwrap_or_default() {
            match self.index.get(&shape) {
                Some(&i) => self.slots[i].as_mut().expect("indexed slot").weight += weight,
                None => {
                    self.capacity = self.capacity.max(self.index.len() + 1);
                    self.insert(shape, weight)
                }
            }
        }
    }

    /// The shapes with their probabilities (empty when nothing was seen yet).
    pub fn weighted(&self) -> Vec<WeightedShape> {
        let total: f64 = self.slots.iter().flatten().map(|s| s.weight).sum();
        if total <= 0.0 {
            return Vec::new();
        }
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref().map(|s| WeightedShape {
                    slot: i,
                    generation: s.generation,
                    shape: s.shape,
                    probability: s.weight / total,
                })
            })
            .collect()
    }
}

/// Expected fragmentation (milli-GPU) of a view under a distribution.
pub fn expected(view: &NodeView, shapes: &[WeightedShape]) -> f64 {
    shapes
        .iter()
        .map(|w| w.probability * ShapeFrag::of(view, &w.shape, w.generation).value(&w.shape) as f64)
        .sum()
}
