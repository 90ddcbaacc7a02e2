//! GPU models known to the step-time model, with the datasheet figure behind every number.
//!
//! Peak compute is the dense (no structured sparsity) BF16 Tensor Core rate; NVIDIA datasheets
//! print the sparse rate first, which is twice the dense one. Memory is the datasheet's decimal
//! gigabytes.
//!
//! | GPU | dense BF16 | HBM bandwidth | memory | source |
//! |---|---:|---:|---:|---|
//! | H100-80GB (SXM5) | 989 TFLOP/s | 3.35 TB/s | 80 GB | NVIDIA H100 Tensor Core GPU datasheet (H100 SXM column: "BF16 Tensor Core 1,979 teraFLOPS*" with sparsity, "GPU memory bandwidth 3.35TB/s") |
//! | H200 (SXM) | 989 TFLOP/s | 4.8 TB/s | 141 GB | NVIDIA H200 Tensor Core GPU datasheet (H200 SXM: "BF16 Tensor Core 1,979 TFLOPS*", "4.8TB/s", "141GB") |
//! | A100-80GB (SXM4) | 312 TFLOP/s | 2.039 TB/s | 80 GB | NVIDIA A100 Tensor Core GPU datasheet (A100 80GB SXM: "BF16 Tensor Core 312 TFLOPS / 624 TFLOPS*", "2,039GB/s") |
//! | L4 | 121 TFLOP/s | 0.3 TB/s | 24 GB | NVIDIA L4 Tensor Core GPU datasheet ("BF16 Tensor Core 242 teraFLOPS*" with sparsity, "GPU memory bandwidth 300GB/s", "24GB") |

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the step-time model needs to know about one GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuModel {
    /// Catalog name (`H100-80GB`, ...).
    pub name: String,
    /// Peak dense BF16 Tensor Core throughput, FLOP/s.
    pub peak_flops: f64,
    /// HBM bandwidth, bytes/s.
    pub hbm_bandwidth: f64,
    /// Device memory, bytes.
    pub memory_bytes: f64,
}

impl GpuModel {
    fn new(name: &str, tflops: f64, tb_per_s: f64, gb: f64) -> Self {
        Self {
            name: name.to_string(),
            peak_flops: tflops * 1e12,
            hbm_bandwidth: tb_per_s * 1e12,
            memory_bytes: gb * 1e9,
        }
    }

    /// Every GPU in the catalog (see the module table for sources).
    pub fn catalog() -> Vec<GpuModel> {
        vec![
            GpuModel::new("H100-80GB", 989.0, 3.35, 80.0),
            GpuModel::new("H200", 989.0, 4.8, 141.0),
            GpuModel::new("A100-80GB", 312.0, 2.039, 80.0),
            GpuModel::new("L4", 121.0, 0.3, 24.0),
        ]
    }

    /// The catalog entry called `name` (case-insensitive), or `InvalidRequest` on `gpu`.
    pub fn by_name(name: &str) -> Result<GpuModel> {
        let all = Self::catalog();
        let names: Vec<String> = all.iter().map(|g| g.name.clone()).collect();
        all.into_iter()
            .find(|g| g.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::invalid(
                    "gpu",
                    format!("unknown GPU {name:?}; expected one of {names:?}"),
                )
            })
    }

    /// Checks that every figure is finite and positive.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("gpu.peak_flops", self.peak_flops),
            ("gpu.hbm_bandwidth", self.hbm_bandwidth),
            ("gpu.memory_bytes", self.memory_bytes),
        ] {
            if !v.is_finite() || v <= 0.0 {
                return Err(Error::invalid(
                    field,
                    format!("must be finite and > 0, got {v}"),
                ));
            }
        }
        Ok(())
    }
}
