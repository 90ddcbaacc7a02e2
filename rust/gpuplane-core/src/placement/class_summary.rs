//! What `fgd`'s first pass reads of every class, kept in one flat array beside the classes: a
//! fragmented fleet has as many classes as nodes, and reading each class's view and cached
//! terms from the heap cost more than the arithmetic.

use super::choose::Request;
use super::classes::unseen;
use super::fragmentation::WeightedShape;
use super::view::NodeView;

/// The most GPUs a summary holds; a class with more is marked `wide` and read from its view.
pub const SUMMARY_GPUS: usize = 8;

/// A class's view reduced to plain arrays, and which shapes of the distribution it cannot host.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub live: bool,
    /// More GPUs than [`SUMMARY_GPUS`]: the arrays are empty and `unhostable` is not kept.
    pub wide: bool,
    pub occupied: bool,
    pub levels: [u16; super::node_index::TIER_COUNT],
    pub free: u32,
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

impl Summary {
    pub fn of(view: &NodeView, free: u32, levels: [u16; super::node_index::TIER_COUNT]) -> Summary {
        let mut out = Summary {
            live: true,
            wide: view.gpus.len() > SUMMARY_GPUS,
            occupied: view.occupied,
            levels,
            free,
            cpu_free: view.cpu_free,
            host_mem_free: view.mem_free,
            ..Summary::default()
        };
        if out.wide {
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

    /// [`Request::node_ok`] on the summary.
    pub fn node_ok(&self, req: &Request) -> bool {
        self.cpu_free >= req.cpu && self.host_mem_free >= req.host_mem
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
