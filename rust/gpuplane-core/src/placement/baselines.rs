//! The FGD paper's node-scoring baselines besides best-fit and packing: DotProd (Tetris) and
//! GPU clustering, with the normalization constants of the paper's artifact.

use super::choose::Request;
use super::view::{GpuView, NodeView};

/// The largest node spec the artifact normalizes by: 128 cores, 8 GPUs (in milli units).
pub const MAX_SPEC_CPU_MILLI: f64 = 128_000.0;
pub const MAX_SPEC_GPU_MILLI: f64 = 8_000.0;

/// Whether one GPU's worth of `req` leaves part of `gpu` to others (a GPU-sharing request).
pub fn shares_gpu(req: &Request, gpu: &GpuView) -> bool {
    req.count == 1 && req.milli < gpu.milli_total && req.mem < gpu.mem_total
}

/// The bit of a kind of GPU work: bit 0 a shared GPU, bit `k` (up to 15) `k` whole GPUs; no
/// bit for work without GPUs.
pub fn kind_bit(gpu_count: u32, shared: bool) -> u16 {
    match (gpu_count, shared) {
        (0, _) => 0,
        (_, true) => 1,
        (k, false) => 1 << k.min(15),
    }
}

/// The kind bit of `req` on `view` (0 when it asks for no GPU).
pub fn request_kind(view: &NodeView, req: &Request) -> u16 {
    let shared = view.gpus.first().is_some_and(|g| shares_gpu(req, g));
    kind_bit(req.count, shared)
}

/// Free GPU capacity of the node in milli-GPU.
pub fn gpu_free_milli(view: &NodeView) -> f64 {
    view.total_share() as f64
}

/// GPU capacity `req` asks for, in milli-GPU.
pub fn gpu_request_milli(req: &Request) -> f64 {
    req.count as f64 * req.milli as f64
}

/// DotProd's score in [0, 100], higher is better: 100 x (1 - (free . request) / 2), both
/// vectors (CPU, GPU) divided by the largest node spec, so the node whose free resources are
/// least aligned with the request (least left that this request shape could use) wins.
pub fn dot_product(view: &NodeView, req: &Request) -> f64 {
    let cpu = (view.cpu_free as f64 / MAX_SPEC_CPU_MILLI) * (req.cpu as f64 / MAX_SPEC_CPU_MILLI);
    let gpu =
        (gpu_free_milli(view) / MAX_SPEC_GPU_MILLI) * (gpu_request_milli(req) / MAX_SPEC_GPU_MILLI);
    100.0 * (1.0 - (cpu + gpu) / 2.0)
}

/// GPU clustering's score in [0, 100], higher is better: a quarter of the range per tier (the
/// node runs only this kind of work, this kind among others, nothing, only other kinds), and
/// within a tier the fuller node first. A request without GPUs scores 0 everywhere.
pub fn clustering(view: &NodeView, req: &Request) -> f64 {
    let kind = request_kind(view, req);
    if kind == 0 {
        return 0.0;
    }
    let tier = if view.kinds & kind != 0 {
        if view.kinds == kind {
            3.0
        } else {
            2.0
        }
    } else if view.kinds == 0 {
        1.0
    } else {
        0.0
    };
    let fullness =
        ((MAX_SPEC_GPU_MILLI - gpu_free_milli(view)) * 25.0 / MAX_SPEC_GPU_MILLI).floor();
    fullness + 25.0 * tier
}

/// The artifact's best-fit score in [0, 100], higher is better: what is left of CPU and GPU,
/// each over the largest spec, weighted half and half.
pub fn best_fit_left(view: &NodeView, req: &Request) -> f64 {
    let cpu = (view.cpu_free - req.cpu) as f64 / MAX_SPEC_CPU_MILLI * 0.5;
    let gpu = (gpu_free_milli(view) - gpu_request_milli(req)) / MAX_SPEC_GPU_MILLI * 0.5;
    (1.0 - (cpu + gpu)) * 100.0
}
