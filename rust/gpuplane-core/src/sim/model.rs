//! The GPU step-time model: how long one continuous-batching step takes on one replica, from
//! first principles (a roofline), and how many tokens of KV cache the replica holds.
//!
//! A step computes `T` new tokens for a batch of requests; request `i` computes `n_i` tokens on
//! top of `c_i` tokens already in its KV cache (a decode has `n_i = 1`, a prefill chunk more).
//!
//! * **FLOPs.** Every new token goes through the weights once: `2 * active_params` FLOPs (one
//!   multiply-add per active parameter). Attention adds, per layer, `4 * hidden` FLOPs per
//!   (query, key) pair (`Q K^T` and `A V`, each `hidden` multiply-adds); a chunk of `n` tokens
//!   over `c` cached ones has `n * (c + (n + 1) / 2)` pairs (causal). So
//!   `FLOPs = 2 * active_params * T + 4 * layers * hidden * sum_i n_i (c_i + (n_i + 1) / 2)`.
//! * **Bytes.** The weights are read once per step: all of a dense model; for a mixture of
//!   experts, the shared part plus the experts the batch touches, `1 - (1 - k/E)^T` of them in
//!   expectation (each token picks `k` of `E` uniformly). Attention reads each request's cached
//!   KV once (`c_i * kv_bytes_per_token`) and writes the new tokens' KV (`T * kv_bytes_per_token`),
//!   with `kv_bytes_per_token = 2 * layers * kv_heads * head_dim * dtype_bytes`.
//! * **Time.** Tensor parallelism over `tp` GPUs splits both FLOPs and bytes:
//!   `step = max(FLOPs / (tp * peak * compute_efficiency),
//!               bytes / (tp * bandwidth * bandwidth_efficiency))
//!           + step_overhead + [tp > 1] * 2 * layers * allreduce_latency`.
//!   A long prefill is compute-bound, so this is `FLOPs / (achievable fraction * peak)`; a decode
//!   step is `max(bytes / bandwidth, FLOPs / throughput)` plus the fixed per-step overhead
//!   (scheduling, kernel launches, sampling). Two all-reduces per layer (after attention and
//!   after the MLP) cost a latency each under tensor parallelism; their volume is ignored.
//! * **KV capacity.** `(tp * memory * memory_utilization - weight_bytes) / kv_bytes_per_token`
//!   tokens; activations and CUDA graphs are covered by `1 - memory_utilization`.
//!
//! Not modelled: quantization (set `dtype_bytes`), speculative decoding, pipeline parallelism,
//! prefix-cache hits beyond what the scheduler reports, and communication volume.

use serde::{Deserialize, Serialize};

use super::hardware::GpuModel;
use super::llm::LlmModel;
use crate::error::{Error, Result};

/// The tunable assumptions of the step-time model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelOptions {
    /// Tensor-parallel degree: GPUs per replica (1..=64).
    pub tp: u32,
    /// Achievable fraction of peak FLOP/s, in (0, 1].
    pub compute_efficiency: f64,
    /// Achievable fraction of HBM bandwidth, in (0, 1].
    pub bandwidth_efficiency: f64,
    /// Fixed cost of every step, seconds (>= 0).
    pub step_overhead_s: f64,
    /// Latency of one all-reduce under tensor parallelism, seconds (>= 0).
    pub allreduce_latency_s: f64,
    /// Share of device memory for weights and KV cache, in (0, 1].
    pub memory_utilization: f64,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            tp: 1,
            compute_efficiency: 0.6,
            bandwidth_efficiency: 0.8,
            step_overhead_s: 0.001,
            allreduce_latency_s: 8e-6,
            memory_utilization: 0.9,
        }
    }
}

impl ModelOptions {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !(1..=64).contains(&self.tp) {
            return Err(Error::invalid(
                "tp",
                format!("must be in 1..=64, got {}", self.tp),
            ));
        }
        for (field, v) in [
            ("compute_efficiency", self.compute_efficiency),
            ("bandwidth_efficiency", self.bandwidth_efficiency),
            ("memory_utilization", self.memory_utilization),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(Error::invalid(field, format!("must be in (0, 1], got {v}")));
            }
        }
        for (field, v) in [
            ("step_overhead_s", self.step_overhead_s),
            ("allreduce_latency_s", self.allreduce_latency_s),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::invalid(
                    field,
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

/// The work of one step, accumulated request by request with [`StepWork::add`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepWork {
    /// New tokens computed (`T`).
    pub tokens: f64,
    /// Causal (query, key) pairs: `sum n (c + (n + 1) / 2)`.
    pub attention_pairs: f64,
    /// Cached KV tokens read: `sum c`.
    pub kv_read_tokens: f64,
}

impl StepWork {
    /// Adds a request computing `new` tokens on top of `cached` ones.
    #[inline]
    pub fn add(&mut self, cached: u32, new: u32) {
        let (c, n) = (f64::from(cached), f64::from(new));
        self.tokens += n;
        self.attention_pairs += n * (c + (n + 1.0) / 2.0);
        self.kv_read_tokens += c;
    }
}

/// A GPU, an LLM and the options, with the derived constants of the roofline.
#[derive(Debug, Clone, PartialEq)]
pub struct StepModel {
    gpu: GpuModel,
    llm: LlmModel,
    opts: ModelOptions,
    flops_rate: f64,
    bytes_rate: f64,
    fixed_s: f64,
    kv_bytes: f64,
    shared_bytes: f64,
    expert_bytes: f64,
    miss: f64,
}

impl StepModel {
    /// A model of `llm` on `opts.tp` GPUs of kind `gpu`. Refused when the weights do not fit.
    pub fn new(gpu: GpuModel, llm: LlmModel, opts: ModelOptions) -> Result<Self> {
        gpu.validate()?;
        llm.validate()?;
        opts.validate()?;
        let tp = f64::from(opts.tp);
        let expert_bytes = llm.expert_params() * llm.dtype_bytes;
        let fixed_s = opts.step_overhead_s
            + if opts.tp > 1 {
                2.0 * f64::from(llm.layers) * opts.allreduce_latency_s
            } else {
                0.0
            };
        let m = Self {
            flops_rate: tp * gpu.peak_flops * opts.compute_efficiency,
            bytes_rate: tp * gpu.hbm_bandwidth * opts.bandwidth_efficiency,
            fixed_s,
            kv_bytes: llm.kv_bytes_per_token(),
            shared_bytes: llm.weight_bytes() - expert_bytes,
            expert_bytes,
            miss: 1.0 - f64::from(llm.experts_per_token) / f64::from(llm.experts),
            gpu,
            llm,
            opts,
        };
        if m.kv_capacity_bytes() < m.kv_bytes {
            let why = format!(
                "{} weights ({:.1} GB) leave no KV room on {} x {} at memory_utilization {}",
                m.llm.name,
                m.llm.weight_bytes() / 1e9,
                m.opts.tp,
                m.gpu.name,
                m.opts.memory_utilization
            );
            return Err(Error::invalid("tp", why));
        }
        Ok(m)
    }

    /// The GPU.
    pub fn gpu(&self) -> &GpuModel {
        &self.gpu
    }

    /// The LLM.
    pub fn llm(&self) -> &LlmModel {
        &self.llm
    }

    /// The options.
    pub fn options(&self) -> &ModelOptions {
        &self.opts
    }

    fn kv_capacity_bytes(&self) -> f64 {
        f64::from(self.opts.tp) * self.gpu.memory_bytes * self.opts.memory_utilization
            - self.llm.weight_bytes()
    }

    /// Tokens of KV cache the replica holds.
    pub fn kv_capacity_tokens(&self) -> u64 {
        (self.kv_capacity_bytes() / self.kv_bytes).floor() as u64
    }

    /// FLOPs of a step.
    pub fn flops(&self, w: &StepWork) -> f64 {
        2.0 * self.llm.active_params * w.tokens
            + 4.0 * f64::from(self.llm.layers) * f64::from(self.llm.hidden) * w.attention_pairs
    }

    /// Bytes moved through HBM by a step.
    pub fn bytes(&self, w: &StepWork) -> f64 {
        let touched = if self.expert_bytes > 0.0 {
            1.0 - self.miss.powf(w.tokens)
        } else {
            0.0
        };
        self.shared_bytes
            + self.expert_bytes * touched
            + self.kv_bytes * (w.kv_read_tokens + w.tokens)
    }

    /// Seconds the step takes (0 for an empty step).
    pub fn step_time(&self, w: &StepWork) -> f64 {
        if w.tokens <= 0.0 {
            return 0.0;
        }
        let compute = self.flops(w) / self.flops_rate;
        let memory = self.bytes(w) / self.bytes_rate;
        compute.max(memory) + self.fixed_s
    }

    /// Seconds to prefill one prompt of `tokens` tokens alone in one step.
    pub fn prefill_time(&self, tokens: u32) -> f64 {
        let mut w = StepWork::default();
        w.add(0, tokens);
        self.step_time(&w)
    }

    /// Seconds of one decode step of `batch` requests with `context` cached tokens each.
    pub fn decode_step_time(&self, batch: u32, context: u32) -> f64 {
        let mut w = StepWork::default();
        for _ in 0..batch {
            w.add(context, 1);
        }
        self.step_time(&w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(gpu: &str, llm: &str, tp: u32) -> StepModel {
        let opts = ModelOptions {
            tp,
            ..ModelOptions::default()
        };
        StepModel::new(
            GpuModel::by_name(gpu).unwrap(),
            LlmModel::by_name(llm).unwrap(),
            opts,
        )
        .unwrap()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-12), "{a} != {b}");
    }

    #[test]
    fn kv_bytes_per_token_by_hand() {
        // 2 (K, V) x 32 layers x 8 KV heads x 128 dims x 2 bytes
        close(
            LlmModel::by_name("llama-3-8b")
                .unwrap()
                .kv_bytes_per_token(),
            131_072.0,
        );
        // 2 x 80 x 8 x 128 x 2
        close(
            LlmModel::by_name("llama-3-70b")
                .unwrap()
                .kv_bytes_per_token(),
            327_680.0,
        );
    }

    #[test]
    fn kv_capacity_llama8b_h100() {
        // (80e9 * 0.9 - 8.03e9 * 2) / 131072 = 55.94e9 / 131072 = 426,788.3
        assert_eq!(
            model("H100-80GB", "llama-3-8b", 1).kv_capacity_tokens(),
            426_788
        );
        // 70B on 4 x H100: (4 * 72e9 - 141.2e9) / 327680 = 146.8e9 / 327680 = 447,998.0
        assert_eq!(
            model("H100-80GB", "llama-3-70b", 4).kv_capacity_tokens(),
            447_998
        );
    }

    #[test]
    fn weights_that_do_not_fit_are_refused() {
        let opts = ModelOptions::default();
        let r = StepModel::new(
            GpuModel::by_name("L4").unwrap(),
            LlmModel::by_name("llama-3-70b").unwrap(),
            opts,
        );
        assert!(r.is_err());
    }

    #[test]
    fn prefill_1000_tokens_llama8b_h100() {
        // FLOPs: 2 * 8.03e9 * 1000 = 1.606e13; attention 4 * 32 * 4096 * (1000 * 1001 / 2)
        // = 524288 * 500500 = 2.62406144e11; total 1.6322406144e13.
        // compute = 1.6322406144e13 / (989e12 * 0.6) = 0.0275066... s
        // memory  = (16.06e9 + 1000 * 131072) / (3.35e12 * 0.8) = 0.0060414 s
        let m = model("H100-80GB", "llama-3-8b", 1);
        let expected = 1.632_240_614_4e13 / (989e12 * 0.6) + 0.001;
        close(m.prefill_time(1000), expected);
    }

    #[test]
    fn decode_step_llama8b_h100() {
        // batch 1 at context 1000: bytes = 16.06e9 + 1001 * 131072 = 16.191203072e9
        // memory = 16.191203072e9 / 2.68e12 = 6.0415 ms (compute 0.03 ms) + 1 ms overhead.
        let m = model("H100-80GB", "llama-3-8b", 1);
        close(
            m.decode_step_time(1, 1000),
            16.191_203_072e9 / 2.68e12 + 0.001,
        );
        // batch 64 at context 1000: bytes = 16.06e9 + 64 * 1001 * 131072 = 24.456843e9
        close(
            m.decode_step_time(64, 1000),
            (16.06e9 + 64.0 * 1001.0 * 131_072.0) / 2.68e12 + 0.001,
        );
    }

    #[test]
    fn tensor_parallel_adds_allreduce_latency() {
        // 70B, TP 8, batch 1, context 0: bytes 141.2e9 + 327680 over 8 * 3.35e12 * 0.8,
        // plus 1 ms and 2 * 80 * 8 us = 1.28 ms of all-reduce latency.
        let m = model("H100-80GB", "llama-3-70b", 8);
        close(
            m.decode_step_time(1, 0),
            (141.2e9 + 327_680.0) / (8.0 * 2.68e12) + 0.001 + 0.00128,
        );
    }

    #[test]
    fn moe_decode_reads_only_active_experts() {
        // Mixtral, one token: shared + 1/4 of the experts = exactly the 12.9e9 active params.
        let m = model("H100-80GB", "mixtral-8x7b", 2);
        let mut w = StepWork::default();
        w.add(0, 1);
        close(m.bytes(&w), 12.9e9 * 2.0 + 131_072.0);
        // a big batch touches every expert: all 46.7e9 params
        let mut big = StepWork::default();
        for _ in 0..256 {
            big.add(0, 1);
        }
        assert!((m.bytes(&big) - (46.7e9 * 2.0 + 256.0 * 131_072.0)).abs() < 1e3);
    }

    #[test]
    fn empty_step_takes_no_time() {
        assert_eq!(
            model("L4", "llama-3-8b", 1).step_time(&StepWork::default()),
            0.0
        );
    }
}
