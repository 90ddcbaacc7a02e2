//! Per-decision tables that give a class's unhostable shapes, and the shapes needing more of
//! one GPU than an amount, in one lookup per gang size from its GPUs' free memory; and the
//! same sets' probability, as tail masses by gang size, without building the sets.

use super::class_summary::{Glance, GpuScan, SUMMARY_GPUS};
use super::fragmentation::WeightedShape;

/// Free memory in steps of `1 << STEP_BITS` MiB: a table entry per step.
const STEP_BITS: u32 = 9;

/// Per decision, by gang size, the slots whose shape needs more memory per GPU than each step
/// of free memory: a node whose `k`-th freest GPU has `f` free cannot host a `k`-GPU shape
/// needing more than `f` (when neither compute, host CPU nor host memory binds), so its
/// unhostable set is read in one lookup per gang size instead of one test per shape.
pub struct FreeTables {
    /// `(k, table)`: slot set of the `k`-GPU shapes needing more than step `i`'s amount.
    by_count: Vec<(usize, Vec<u64>)>,
    /// The same over every GPU shape.
    any: Vec<u64>,
    /// `(k, tail)`: the probability of the `k`-GPU shapes needing more than step `i`'s amount
    /// (the slots of `by_count`'s table for `k`, weighed).
    tails: Vec<(usize, Vec<f64>)>,
    /// The probability of the slots of `always`.
    always_mass: f64,
    /// Slots no summary hosts: GPU-less shapes, and gangs larger than [`SUMMARY_GPUS`].
    always: u64,
    /// The most any shape needs of one GPU's compute, of host CPU and of host memory.
    most_milli: u32,
    most_cpu: u64,
    most_host_mem: u64,
    /// Whether the tables apply at all: every GPU shape needs some memory.
    usable: bool,
}

impl FreeTables {
    pub fn new(shapes: &[WeightedShape]) -> FreeTables {
        let gpu_shapes = || shapes.iter().filter(|w| w.shape.gpu_count > 0);
        let steps = gpu_shapes()
            .map(|w| step(w.shape.memory_mib.saturating_sub(1)) + 1)
            .max()
            .unwrap_or(0);
        let mut counts: Vec<usize> = gpu_shapes()
            .map(|w| w.shape.gpu_count as usize)
            .filter(|&k| k <= SUMMARY_GPUS)
            .collect();
        counts.sort_unstable();
        counts.dedup();
        let of_count = |k: Option<usize>| {
            gpu_shapes().filter(move |w| k.is_none_or(|k| w.shape.gpu_count as usize == k))
        };
        let table = |k| by_step(steps, of_count(k), |w| 1u64 << w.slot, |a, b| a | b);
        let tail = |k| {
            (
                k,
                by_step(steps, of_count(Some(k)), |w| w.probability, |a, b| a + b),
            )
        };
        let always_shape = |w: &&WeightedShape| {
            w.shape.gpu_count == 0 || w.shape.gpu_count as usize > SUMMARY_GPUS
        };
        let always = (shapes.iter().filter(always_shape)).fold(0, |set, w| set | 1 << w.slot);
        FreeTables {
            by_count: counts.iter().map(|&k| (k, table(Some(k)))).collect(),
            any: table(None),
            tails: counts.iter().map(|&k| tail(k)).collect(),
            always_mass: shapes
                .iter()
                .filter(always_shape)
                .map(|w| w.probability)
                .sum(),
            always,
            most_milli: shapes
                .iter()
                .map(|w| w.shape.compute_milli)
                .max()
                .unwrap_or(0),
            most_cpu: shapes.iter().map(|w| w.shape.cpu_milli).max().unwrap_or(0),
            most_host_mem: shapes
                .iter()
                .map(|w| w.shape.host_memory_mib)
                .max()
                .unwrap_or(0),
            usable: gpu_shapes().all(|w| w.shape.memory_mib > 0),
        }
    }

    /// The GPU shapes' slots needing more memory than `mem`, and those needing more than
    /// `mem`'s step.
    pub fn needing_more(&self, mem: u64) -> u64 {
        at(&self.any, mem)
    }

    /// A superset of the slots a class cannot host, `None` when compute, host CPU or host
    /// memory could bind there (or the tables do not apply).
    pub fn unhostable(&self, glance: &Glance) -> Option<u64> {
        if !self.apply(glance) {
            return None;
        }
        let by_count = (self.by_count.iter())
            .map(|(k, t)| at(t, glance.kth_free(*k)))
            .fold(0, |set, s| set | s);
        Some(self.always | by_count)
    }

    /// Whether the tables give `glance`'s unhostable set: neither compute, host CPU nor host
    /// memory can bind there, and every GPU shape needs memory.
    fn apply(&self, glance: &Glance) -> bool {
        let binds = glance.least_milli < self.most_milli
            || (glance.cpu_free as u64) < self.most_cpu
            || (glance.host_mem_free as u64) < self.most_host_mem;
        self.usable && !glance.wide && !binds
    }

    /// The probability of the slots of [`FreeTables::unhostable`] and of those needing more
    /// memory than the tightest of the `scan.hosting` freest GPUs, `None` where the tables do
    /// not apply; `scan` must be the glance's own ([`Glance::scan`]). A `k`-GPU shape is in
    /// either set exactly when it needs more than `min(f_k, least)`, `f_k` being the `k`-th
    /// most free memory, so the mass is one tail lookup per gang size, without building the
    /// set (summed in another order than the set's probability).
    pub fn lost_mass(&self, glance: &Glance, scan: &GpuScan) -> Option<f64> {
        self.apply(glance)
            .then(|| self.mass_at(glance, scan.least_mem))
    }

    /// The sum, over the `k` GPUs with the least free memory among the scan's hosting GPUs, of
    /// the probability of the unhostable slots and of those needing more than the GPU has
    /// free (the unhostable slots' alone for each of the `k` the class lacks): the shapes'
    /// probability weighed by the GPUs on which the per-GPU count of `fgd`'s bound has them
    /// lose. `None` where the tables do not apply; `scan` must be the glance's own.
    pub fn counted_mass(&self, glance: &Glance, scan: &GpuScan, k: usize) -> Option<f64> {
        if !self.apply(glance) {
            return None;
        }
        let hosting = scan.hosting as usize;
        let listed = k.min(hosting);
        let least = (hosting - listed + 1..=hosting)
            .map(|nth| self.mass_at(glance, glance.kth_free(nth)))
            .sum::<f64>();
        Some(least + (k - listed) as f64 * self.mass_at(glance, u64::MAX))
    }

    /// The probability of the unhostable slots and of those needing more than `mem`: a
    /// `k`-GPU shape is in either set exactly when it needs more than `min(f_k, mem)`.
    fn mass_at(&self, glance: &Glance, mem: u64) -> f64 {
        let lost = (self.tails.iter()).map(|(k, tail)| at(tail, glance.kth_free(*k).min(mem)));
        self.always_mass + lost.sum::<f64>()
    }
}

/// Per step of free memory, `value` of every shape of `shapes` needing more than the step's
/// amount per GPU, combined by `combine`, with one entry past the last step holding
/// `T::default()` (amounts beyond it read it, see [`at`]).
fn by_step<'a, T: Copy + Default>(
    steps: usize,
    shapes: impl Iterator<Item = &'a WeightedShape>,
    value: impl Fn(&WeightedShape) -> T,
    combine: impl Fn(T, T) -> T,
) -> Vec<T> {
    let mut t = vec![T::default(); steps + 1];
    for w in shapes {
        let i = step(w.shape.memory_mib.saturating_sub(1));
        t[i] = combine(t[i], value(w));
    }
    for i in (1..steps).rev() {
        t[i - 1] = combine(t[i - 1], t[i]);
    }
    t
}

/// The entry of `table` for `mem` MiB: its step's, or the last (0) beyond.
#[inline]
fn at<T: Copy>(table: &[T], mem: u64) -> T {
    table[step(mem).min(table.len() - 1)]
}

/// The table step of `mem` MiB.
#[inline]
fn step(mem: u64) -> usize {
    (mem >> STEP_BITS) as usize
}
