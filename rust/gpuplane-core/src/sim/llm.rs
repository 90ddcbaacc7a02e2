//! LLM architectures known to the step-time model (figures from each model's published
//! `config.json` and model card).
//!
//! | model | params | active | layers | hidden | KV heads | head dim | experts (top-k) |
//! |---|---:|---:|---:|---:|---:|---:|---|
//! | Llama-3-8B | 8.03 B | 8.03 B | 32 | 4096 | 8 | 128 | dense |
//! | Llama-3-70B | 70.6 B | 70.6 B | 80 | 8192 | 8 | 128 | dense |
//! | Mixtral-8x7B | 46.7 B | 12.9 B | 32 | 4096 | 8 | 128 | 8 (2) |
//!
//! Sources: meta-llama/Meta-Llama-3-8B and Meta-Llama-3-70B `config.json` (num_hidden_layers,
//! hidden_size, num_key_value_heads, head_dim = hidden_size / num_attention_heads); Mistral AI,
//! "Mixtral of Experts" (arXiv:2401.04088): 46.7 B total, 12.9 B active parameters per token.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the step-time model needs to know about one LLM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmModel {
    /// Catalog name (`llama-3-8b`, ...).
    pub name: String,
    /// Total parameters.
    pub params: f64,
    /// Parameters used per token (equal to `params` for a dense model).
    pub active_params: f64,
    /// Transformer layers.
    pub layers: u32,
    /// Hidden size (query heads x head dimension).
    pub hidden: u32,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: u32,
    /// Dimension of one attention head.
    pub head_dim: u32,
    /// Bytes per weight and per KV element (2 for BF16).
    pub dtype_bytes: f64,
    /// Experts per MoE layer (1 for a dense model).
    pub experts: u32,
    /// Experts each token is routed to (1 for a dense model).
    pub experts_per_token: u32,
}

impl LlmModel {
    fn dense(name: &str, params_b: f64, layers: u32, hidden: u32) -> Self {
        Self {
            name: name.to_string(),
            params: params_b * 1e9,
            active_params: params_b * 1e9,
            layers,
            hidden,
            kv_heads: 8,
            head_dim: 128,
            dtype_bytes: 2.0,
            experts: 1,
            experts_per_token: 1,
        }
    }

    /// Every model in the catalog (see the module table for sources).
    pub fn catalog() -> Vec<LlmModel> {
        let mixtral = LlmModel {
            active_params: 12.9e9,
            experts: 8,
            experts_per_token: 2,
            ..LlmModel::dense("mixtral-8x7b", 46.7, 32, 4096)
        };
        vec![
            LlmModel::dense("llama-3-8b", 8.03, 32, 4096),
            LlmModel::dense("llama-3-70b", 70.6, 80, 8192),
            mixtral,
        ]
    }

    /// The catalog entry called `name` (case-insensitive), or `InvalidRequest` on `model`.
    pub fn by_name(name: &str) -> Result<LlmModel> {
        let all = Self::catalog();
        let names: Vec<String> = all.iter().map(|m| m.name.clone()).collect();
        all.into_iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::invalid(
                    "model",
                    format!("unknown model {name:?}; expected one of {names:?}"),
                )
            })
    }

    /// KV cache bytes per token: K and V, per layer, per KV head, per head dimension.
    pub fn kv_bytes_per_token(&self) -> f64 {
        2.0 * f64::from(self.layers)
            * f64::from(self.kv_heads)
            * f64::from(self.head_dim)
            * self.dtype_bytes
    }

    /// Weight bytes of the whole model.
    pub fn weight_bytes(&self) -> f64 {
        self.params * self.dtype_bytes
    }

    /// Parameters of the routed experts (all of them), 0 for a dense model. With `E` experts
    /// and top-`k` routing, `active = shared + experts_total * k / E` and
    /// `params = shared + experts_total`, so `experts_total = (params - active) / (1 - k / E)`.
    pub fn expert_params(&self) -> f64 {
        if self.experts <= 1 || self.experts_per_token >= self.experts {
            return 0.0;
        }
        let routed = f64::from(self.experts_per_token) / f64::from(self.experts);
        (self.params - self.active_params) / (1.0 - routed)
    }

    /// Checks every figure.
    pub fn validate(&self) -> Result<()> {
        let pos = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(
                    field,
                    format!("must be finite and > 0, got {v}"),
                ))
            }
        };
        pos("model.params", self.params)?;
        pos("model.active_params", self.active_params)?;
        pos("model.dtype_bytes", self.dtype_bytes)?;
        for (field, v) in [
            ("model.layers", self.layers),
            ("model.hidden", self.hidden),
            ("model.kv_heads", self.kv_heads),
            ("model.head_dim", self.head_dim),
            ("model.experts", self.experts),
            ("model.experts_per_token", self.experts_per_token),
        ] {
            pos(field, f64::from(v))?;
        }
        if self.active_params > self.params || self.experts_per_token > self.experts {
            return Err(Error::invalid(
                "model.active_params",
                "active exceeds total",
            ));
        }
        Ok(())
    }
}
