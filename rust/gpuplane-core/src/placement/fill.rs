//! Unfillable capacity, the measure `fgd_fill` adds to FGD's expected fragmentation.
//!
//! FGD asks, per workload shape, whether *one* more pod of that shape fits on each GPU. It does
//! not see what repeated pods leave behind (an idle GPU filled with 810 milli-GPU pods keeps
//! 190 that no common shape can use), nor a node whose free GPUs outnumber what its CPU or host
//! memory can still feed (20 cores left beside 8 idle GPUs feed two pods, not eight). For a
//! shape `m`, a node's *unfillable* capacity is its free GPU capacity less what as many pods of
//! `m` as still fit would take: pods are limited by the GPUs that can host them (several per
//! GPU for a shared shape), by the free CPU and by the free host memory. The expected
//! unfillable capacity is the average over the shape distribution.

use super::fragmentation::{Shape, WeightedShape};
use super::view::{GpuView, NodeView};

/// Free capacity (milli-GPU) of `view` that pods of `shape` could not take, however many of
/// them arrive. A shape without GPUs takes nothing, so all free capacity is unfillable for it.
pub fn unfillable(view: &NodeView, shape: &Shape) -> u32 {
    let free = view.total_share();
    if shape.gpu_count == 0 {
        return free;
    }
    let pods = gpu_limited_pods(view, shape)
        .min(host_limited_pods(view.cpu_free, shape.cpu_milli))
        .min(host_limited_pods(view.mem_free, shape.host_memory_mib));
    let per_gpu = per_gpu_share(view, shape) as u64;
    let taken = pods.saturating_mul(shape.gpu_count as u64 * per_gpu);
    free.saturating_sub(taken.min(u32::MAX as u64) as u32)
}

/// How many pods of `shape` the GPUs alone can take: a shared shape stacks on each GPU, a
/// whole-GPU shape takes GPUs `gpu_count` at a time.
fn gpu_limited_pods(view: &NodeView, shape: &Shape) -> u64 {
    let per_gpu: u64 = view.gpus.iter().map(|g| pods_on_gpu(g, shape)).sum();
    if shape.gpu_count == 1 {
        per_gpu
    } else {
        let whole = view
            .gpus
            .iter()
            .filter(|g| pods_on_gpu(g, shape) > 0)
            .count() as u64;
        whole / shape.gpu_count as u64
    }
}

/// How many GPU-parts of `shape` fit on `gpu` one after another.
fn pods_on_gpu(gpu: &GpuView, shape: &Shape) -> u64 {
    if !gpu.hosts(shape.memory_mib, shape.compute_milli) {
        return 0;
    }
    let by_milli = gpu.milli_free as u64 / (shape.compute_milli as u64).max(1);
    let by_mem = gpu.mem_free / shape.memory_mib.max(1);
    let n = by_milli.min(by_mem);
    if shape.gpu_count == 1 {
        n
    } else {
        n.min(1)
    }
}

fn host_limited_pods(free: u64, per_pod: u64) -> u64 {
    free.checked_div(per_pod).unwrap_or(u64::MAX)
}

/// The share (milli-GPU, 1000 = a whole GPU) one GPU-part of `shape` takes on this node.
fn per_gpu_share(view: &NodeView, shape: &Shape) -> u32 {
    let Some(gpu) = view.gpus.first() else {
        return 0;
    };
    let milli = shape.compute_milli as u64 * 1000 / gpu.milli_total.max(1) as u64;
    let mem = shape.memory_mib.saturating_mul(1000) / gpu.mem_total.max(1);
    milli.max(mem).min(1000) as u32
}

/// Expected unfillable capacity (milli-GPU) of `view` under `shapes`.
pub fn expected_unfillable(view: &NodeView, shapes: &[WeightedShape]) -> f64 {
    shapes
        .iter()
        .map(|w| w.probability * unfillable(view, &w.shape) as f64)
        .sum()
}

/// Change of the expected unfillable capacity if `cpu`, `host_mem` and one GPU-part of
/// (`mem`, `milli`) on each of `gpus` are taken from `view`.
pub fn unfillable_delta(
    view: &NodeView,
    gpus: &[usize],
    taken: (u64, u32, u64, u64),
    shapes: &[WeightedShape],
) -> f64 {
    let (mem, milli, cpu, host_mem) = taken;
    let mut after = view.clone();
    for &p in gpus {
        after.gpus[p] = view.gpus[p].after(mem, milli);
    }
    after.cpu_free -= cpu;
    after.mem_free -= host_mem;
    expected_unfillable(&after, shapes) - expected_unfillable(view, shapes)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn gpu(milli_free: u32) -> GpuView {
        GpuView {
            group: 0,
            healthy: true,
            model: 0,
            mem_total: 16_384,
            mem_free: 16_384,
            milli_total: 1000,
            milli_free,
            occupied: milli_free < 1000,
        }
    }

    fn view(frees: &[u32], cpu_free: u64) -> NodeView {
        NodeView {
            labels: 0,
            cpu_free,
            mem_free: 1 << 20,
            occupied: false,
            kinds: 0,
            gpus: frees.iter().map(|&f| gpu(f)).collect(),
        }
    }

    fn shape(cpu: u64, count: u32, milli: u32) -> Shape {
        Shape {
            gpu_count: count,
            memory_mib: 0,
            compute_milli: milli,
            cpu_milli: cpu,
            host_memory_mib: 0,
        }
    }

    #[test]
    fn a_shared_shape_leaves_its_remainder_on_every_gpu() {
        assert_eq!(
            unfillable(&view(&[1000, 1000], 64_000), &shape(0, 1, 810)),
            380
        );
        assert_eq!(unfillable(&view(&[1000], 64_000), &shape(0, 1, 470)), 60);
    }

    #[test]
    fn cpu_limits_how_many_gpus_can_be_fed() {
        let v = view(&[1000; 8], 20_000);
        assert_eq!(unfillable(&v, &shape(10_000, 1, 1000)), 6000);
    }

    #[test]
    fn gangs_take_whole_gpus_a_gang_at_a_time() {
        let v = view(&[1000, 1000, 1000, 1000, 1000, 1000, 0, 500], 64_000);
        assert_eq!(unfillable(&v, &shape(0, 4, 1000)), 2500);
        assert_eq!(unfillable(&v, &shape(0, 0, 0)), 6500);
    }

    proptest! {
        #[test]
        fn unfillable_is_part_of_the_free_capacity(
            frees in proptest::collection::vec(0u32..=1000, 0..9),
            cpu in 0u64..200_000,
            count in 0u32..9,
            milli in 1u32..=1000,
            pod_cpu in 0u64..64_000,
        ) {
            let v = view(&frees, cpu);
            let milli = if count == 1 { milli } else { 1000 };
            let u = unfillable(&v, &shape(pod_cpu, count, milli));
            prop_assert!(u <= v.total_share());
        }

        #[test]
        fn more_cpu_never_leaves_more_unfillable(
            frees in proptest::collection::vec(0u32..=1000, 1..9),
            cpu in 0u64..100_000,
            extra in 0u64..100_000,
            milli in 1u32..=1000,
            pod_cpu in 1u64..32_000,
        ) {
            let s = shape(pod_cpu, 1, milli);
            prop_assert!(unfillable(&view(&frees, cpu + extra), &s) <= unfillable(&view(&frees, cpu), &s));
        }
    }
}
