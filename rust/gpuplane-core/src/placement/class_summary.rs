//! What `fgd`'s first pass reads of every class, kept in flat arrays beside the classes: a
//! fragmented fleet has as many classes as nodes, and reading each class's view and cached
//! terms from the heap cost more than the arithmetic. A [`Glance`] (one cache line) is what
//! the pass reads of most classes; the [`Summary`] beside it is read only where the glance
//! cannot decide.

use super::choose::Request;
use super::classes::unseen;
use super::fragmentation::WeightedShape;
use super::view::NodeView;

/// The most GPUs a summary holds; a class with more is marked `wide` and read from its view.
pub const SUMMARY_GPUS: usize = 8;

/// What the first pass reads of a class, in one cache line: its GPUs' free memory ordered
/// most first, and its tier levels, free share and host resources. Amounts above `u32::MAX`
/// are kept as `u32::MAX` (so they only ever read as less than they are).
#[derive(Debug, Clone, Default)]
#[repr(align(64))]
pub struct Glance {
    pub live: bool,
    /// More GPUs than [`SUMMARY_GPUS`]: the GPU arrays are empty.
    pub wide: bool,
    pub occupied: bool,
    gpus: u8,
    /// Bit `i` set when the GPU at `by_free[i]` holds work.
    occupied_by_free: u8,
    pub levels: [u16; super::node_index::TIER_COUNT],
    /// The view's total free share (milli-GPU).
    pub free: u32,
    /// The least free compute of a healthy GPU (`u32::MAX` when none is healthy).
    pub least_milli: u32,
    pub cpu_free: u32,
    pub host_mem_free: u32,
    /// The healthy GPUs' free memory (0 for a drained GPU), most first, then 0 past the last
    /// GPU: the `k`-th hosts a shape of `k` GPUs when compute does not bind, and a prefix of it
    /// takes a request.
    by_free: [u32; SUMMARY_GPUS],
}

/// A class's view reduced to plain arrays, and which shapes of the distribution it cannot host.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    cpu_free: u64,
    host_mem_free: u64,
    gpus: usize,
    mem_free: [u64; SUMMARY_GPUS],
    milli_free: [u32; SUMMARY_GPUS],
    model: [u32; SUMMARY_GPUS],
    healthy: u8,
    gpu_occupied: u8,
    /// Bit `s` set when the shape in distribution slot `s` (below 64) cannot run here.
    unhostable: u64,
    /// The newest shape generation `unhostable` accounts for (see `FragCache`).
    seen: u64,
}

/// What one pass over a class's GPUs tells about a request.
#[derive(Debug, Clone, Copy)]
pub struct GpuScan {
    /// GPUs able to take one GPU's worth of the request.
    pub hosting: u32,
    /// Of those, the GPUs already holding work.
    pub occupied_hosting: u32,
    /// The least free memory and compute among those.
    pub least_mem: u64,
    pub least_milli: u32,
}

fn saturated(amount: u64) -> u32 {
    amount.min(u32::MAX as u64) as u32
}

impl Glance {
    pub fn of(view: &NodeView, free: u32, levels: [u16; super::node_index::TIER_COUNT]) -> Glance {
        let mut out = Glance {
            live: true,
            wide: view.gpus.len() > SUMMARY_GPUS,
            occupied: view.occupied,
            levels,
            free,
            cpu_free: saturated(view.cpu_free),
            host_mem_free: saturated(view.mem_free),
            ..Glance::default()
        };
        if out.wide {
            return out;
        }
        out.gpus = view.gpus.len() as u8;
        let mut by_free = [(0u32, false); SUMMARY_GPUS];
        for (slot, g) in by_free.iter_mut().zip(&view.gpus) {
            let mem = if g.healthy { saturated(g.mem_free) } else { 0 };
            *slot = (mem, g.occupied);
        }
        let by_free = &mut by_free[..view.gpus.len()];
        by_free.sort_unstable_by(|a, b| b.cmp(a));
        for (i, &(mem, occupied)) in by_free.iter().enumerate() {
            out.by_free[i] = mem;
            out.occupied_by_free |= (occupied as u8) << i;
        }
        out.least_milli = (view.gpus.iter().filter(|g| g.healthy))
            .map(|g| g.milli_free)
            .min()
            .unwrap_or(u32::MAX);
        out
    }

    /// A necessary condition of [`Request::node_ok`].
    pub fn node_ok(&self, req: &Request) -> bool {
        self.cpu_free as u64 >= req.cpu.min(u32::MAX as u64)
            && self.host_mem_free as u64 >= req.host_mem.min(u32::MAX as u64)
    }

    /// The free memory of the `k`-th healthy GPU with the most (0 past the last GPU).
    pub fn kth_free(&self, k: usize) -> u64 {
        // k = 0 wraps past the end.
        (self.by_free.get(k.wrapping_sub(1))).map_or(0, |&free| free as u64)
    }

    /// [`Summary::scan`] from the GPUs ordered by free memory, when only memory can exclude a
    /// GPU: no model constraint, and no healthy GPU short of the request's compute. Its
    /// `least_milli` is that of every healthy GPU, at most the hosting GPUs' least.
    pub fn scan(&self, req: &Request) -> Option<GpuScan> {
        let plain = req.models.is_none() && req.milli <= self.least_milli;
        if !plain || self.wide || req.mem == 0 || req.mem > u32::MAX as u64 {
            return None;
        }
        // Past the last GPU `by_free` holds 0, below any request's memory: counting every
        // entry counts the hosting prefix, without a branch per GPU.
        let mem = req.mem as u32;
        let hosting = self.by_free.iter().filter(|&&free| free >= mem).count();
        let taken = (1u16 << hosting) - 1;
        Some(GpuScan {
            hosting: hosting as u32,
            occupied_hosting: (self.occupied_by_free as u16 & taken).count_ones(),
            least_mem: hosting
                .checked_sub(1)
                .map_or(u64::MAX, |i| self.by_free[i] as u64),
            least_milli: self.least_milli,
        })
    }
}

impl Summary {
    pub fn of(view: &NodeView) -> Summary {
        let mut out = Summary {
            cpu_free: view.cpu_free,
            host_mem_free: view.mem_free,
            ..Summary::default()
        };
        if view.gpus.len() > SUMMARY_GPUS {
            return out;
        }
        out.gpus = view.gpus.len();
        for (i, g) in view.gpus.iter().enumerate() {
            out.mem_free[i] = g.mem_free;
            out.milli_free[i] = g.milli_free;
            out.model[i] = g.model;
            out.healthy |= (g.healthy as u8) << i;
            out.gpu_occupied |= (g.occupied as u8) << i;
        }
        out
    }

    fn hosts(&self, i: usize, mem: u64, milli: u32) -> bool {
        self.healthy >> i & 1 == 1 && self.mem_free[i] >= mem && self.milli_free[i] >= milli
    }

    /// The free (memory, compute) of each GPU able to take one GPU's worth of `req`, in
    /// `out`; how many there are (not for a `wide` summary).
    pub fn hosting_free(&self, req: &Request, out: &mut [(u64, u32); SUMMARY_GPUS]) -> usize {
        let mut n = 0;
        for i in (0..self.gpus).filter(|&i| self.takes(i, req)) {
            out[n] = (self.mem_free[i], self.milli_free[i]);
            n += 1;
        }
        n
    }

    fn takes(&self, i: usize, req: &Request) -> bool {
        self.hosts(i, req.mem, req.milli)
            && req
                .models
                .as_ref()
                .is_none_or(|m| m.binary_search(&self.model[i]).is_ok())
    }

    /// The slots below 64 whose shape cannot run here, as last brought up to date by
    /// [`Summary::unhostable`].
    pub fn unhostable_now(&self) -> u64 {
        self.unhostable
    }

    /// The GPUs able to take one GPU's worth of `req` (not for a `wide` summary).
    pub fn scan(&self, req: &Request) -> GpuScan {
        let mut out = GpuScan {
            hosting: 0,
            occupied_hosting: 0,
            least_mem: u64::MAX,
            least_milli: u32::MAX,
        };
        for i in (0..self.gpus).filter(|&i| self.takes(i, req)) {
            out.hosting += 1;
            out.occupied_hosting += (self.gpu_occupied >> i & 1) as u32;
            out.least_mem = out.least_mem.min(self.mem_free[i]);
            out.least_milli = out.least_milli.min(self.milli_free[i]);
        }
        out
    }

    /// Brings `unhostable` up to date with `newest_first` (the distribution's shapes by
    /// generation, newest first) and returns it.
    pub fn unhostable(&mut self, newest_first: &[WeightedShape]) -> u64 {
        for w in unseen(newest_first, &mut self.seen) {
            if w.slot >= 64 {
                continue;
            }
            let s = &w.shape;
            let hostable = (0..self.gpus)
                .filter(|&i| self.hosts(i, s.memory_mib, s.compute_milli))
                .count() as u32;
            let hosts = s.runs_on(hostable, s.node_hosts(self.cpu_free, self.host_mem_free));
            let bit = 1u64 << w.slot;
            self.unhostable = (self.unhostable & !bit) | (bit * !hosts as u64);
        }
        self.unhostable
    }
}
