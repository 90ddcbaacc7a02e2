//! Configuration of an LLM serving simulation (deserialized from JSON by the binding).

use serde::{Deserialize, Serialize};

use super::hardware::GpuModel;
use super::llm::LlmModel;
use super::model::{ModelOptions, StepModel};
use crate::batching::{BatchConfig, Policy};
use crate::error::{Error, Result};
use crate::routing::{RoutingPolicy, OVERLAP_WEIGHT, QUEUE_WEIGHT};

/// One tenant: a name and a fair-share weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    /// Tenant name (non-empty, unique).
    pub name: String,
    /// Weight (finite, > 0), used by the `fair` policies.
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

/// Latency objectives a finished request must meet to count towards goodput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Slo {
    /// Most seconds from arrival to the first token.
    pub ttft_s: f64,
    /// Most seconds per output token after the first.
    pub tpot_s: f64,
    /// Most seconds from arrival to the last token (`None`: no limit).
    pub e2e_s: Option<f64>,
}

impl Default for Slo {
    fn default() -> Self {
        Self {
            ttft_s: 2.0,
            tpot_s: 0.1,
            e2e_s: None,
        }
    }
}

/// Engine-side scheduler settings of every replica (see [`BatchConfig`]); the KV pool size comes
/// from the step-time model unless `kv_blocks` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineOptions {
    pub token_budget: u32,
    pub max_running: u32,
    pub block_size: u32,
    pub watermark: f64,
    pub long_prefill_token_threshold: u32,
    pub chunked_prefill: bool,
    pub preempt_priority_gap: Option<i32>,
    pub w_in: f64,
    pub w_out: f64,
    /// KV blocks per replica; `None`: the step-time model's capacity.
    pub kv_blocks: Option<u32>,
    /// `program_las`'s starvation grace, seconds.
    pub starvation_s: f64,
    /// `program_las`'s starvation ratio (wait allowed per second of service).
    pub starvation_ratio: f64,
    /// `program_las`'s cache-aware rank (0: plain least attained service).
    pub cache_discount: f64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        let d = BatchConfig::default();
        Self {
            token_budget: d.token_budget,
            max_running: d.max_running,
            block_size: d.block_size,
            watermark: d.watermark,
            long_prefill_token_threshold: d.long_prefill_token_threshold,
            chunked_prefill: d.chunked_prefill,
            preempt_priority_gap: d.preempt_priority_gap,
            w_in: d.w_in,
            w_out: d.w_out,
            kv_blocks: None,
            starvation_s: d.starvation_s,
            starvation_ratio: d.starvation_ratio,
            cache_discount: d.cache_discount,
        }
    }
}

/// Everything a simulation run needs besides the requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// A label for reports (comparison mode).
    pub name: String,
    /// Engine replicas (1..=4096).
    pub replicas: u32,
    /// GPU catalog name (see [`GpuModel::catalog`]); ignored when `gpu_spec` is set.
    pub gpu: String,
    /// LLM catalog name (see [`LlmModel::catalog`]); ignored when `model_spec` is set.
    pub model: String,
    /// A GPU outside the catalog.
    pub gpu_spec: Option<GpuModel>,
    /// An LLM outside the catalog.
    pub model_spec: Option<LlmModel>,
    /// Step-time model assumptions (tensor parallelism, efficiencies, overheads).
    pub model_options: ModelOptions,
    /// Batching policy name (`fcfs`, `priority`, `fair`, `deadline`, `workflow_fair`,
    /// `program_las`).
    pub policy: String,
    /// Routing policy of the core router (`round_robin`, `least_loaded`, `prefix`,
    /// `tenant_fair`, `cost`: the production default).
    pub routing: RoutingPolicy,
    /// The cost model's blocks of load per cached prompt block.
    pub overlap_weight: f64,
    /// The cost model's blocks of load per prompt block of a program's previous call on the
    /// replica that served it (0: calls are routed without their workflow id).
    pub workflow_weight: f64,
    /// The router's weight of a tenant's queue-share excess on a replica (0: off; replicas
    /// then report no waiting requests per tenant).
    pub queue_weight: f64,
    /// Under fleet-wide fair share: how far a backlogged tenant's fleet counter may fall behind
    /// a charged one, in multiples of the fleet bound `N x U` (N replicas, U one step's largest
    /// weighted charge over the smallest weight); 0: unbounded.
    pub fleet_lag: f64,
    /// Scheduler settings of each replica.
    pub engine: EngineOptions,
    /// Tenants by index (the workload's tenant column); empty: `t0`, `t1`, ... with weight 1.
    pub tenants: Vec<TenantSpec>,
    /// Admission: most waiting requests per replica (0: no cap). A request routed to a full
    /// queue is rejected (`queue_full`).
    pub max_queue: u32,
    /// Seconds between a workflow call's completion and the arrival of its next call (the next
    /// call also never arrives before its own trace timestamp).
    pub think_time_s: f64,
    /// Latency objectives for goodput.
    pub slo: Slo,
    /// Width of the report's timeline and fairness windows, seconds (> 0).
    pub window_s: f64,
    /// Tokens per prefix block of the workload's block hashes (512 for the Mooncake JSONL).
    pub hash_block_tokens: u32,
    /// Under `program_las`: a program's attained service and waiting follow it across
    /// replicas (the replica of its next call starts from what the last one knew), as
    /// Autellix keeps them global; `false`: each replica counts only what it served.
    pub fleet_program_counters: bool,
    /// Whether route requests carry the prompts' block hashes (`false`: a gateway that does
    /// not hash prompts; the engines still cache by them, and only a call's workflow id can
    /// send it back to the replica holding its program's context).
    pub route_hashes: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            replicas: 1,
            gpu: "H100-80GB".into(),
            model: "llama-3-8b".into(),
            gpu_spec: None,
            model_spec: None,
            model_options: ModelOptions::default(),
            policy: "fcfs".into(),
            routing: RoutingPolicy::Cost,
            overlap_weight: OVERLAP_WEIGHT,
            workflow_weight: OVERLAP_WEIGHT,
            queue_weight: QUEUE_WEIGHT,
            fleet_lag: 1.0,
            engine: EngineOptions::default(),
            tenants: Vec::new(),
            max_queue: 0,
            think_time_s: 0.0,
            slo: Slo::default(),
            window_s: 60.0,
            hash_block_tokens: 512,
            fleet_program_counters: true,
            route_hashes: true,
        }
    }
}

impl SimConfig {
    /// The step-time model of one replica.
    pub fn step_model(&self) -> Result<StepModel> {
        let gpu = match &self.gpu_spec {
            Some(g) => g.clone(),
            None => GpuModel::by_name(&self.gpu)?,
        };
        let llm = match &self.model_spec {
            Some(m) => m.clone(),
            None => LlmModel::by_name(&self.model)?,
        };
        StepModel::new(gpu, llm, self.model_options.clone())
    }

    /// The batching configuration of every replica, its KV pool sized by `model`.
    pub fn batch_config(&self, model: &StepModel, tenants: &[TenantSpec]) -> Result<BatchConfig> {
        let e = &self.engine;
        let bs = e.block_size.max(1);
        let from_model = (model.kv_capacity_tokens() / u64::from(bs)).min(1 << 26) as u32;
        let cfg = BatchConfig {
            token_budget: e.token_budget,
            max_running: e.max_running,
            kv_blocks: e.kv_blocks.unwrap_or(from_model),
            block_size: e.block_size,
            watermark: e.watermark,
            long_prefill_token_threshold: e.long_prefill_token_threshold,
            chunked_prefill: e.chunked_prefill,
            preempt_priority_gap: e.preempt_priority_gap,
            policy: self.policy.parse::<Policy>()?,
            w_in: e.w_in,
            w_out: e.w_out,
            tenant_weights: tenants.iter().map(|t| (t.name.clone(), t.weight)).collect(),
            starvation_s: e.starvation_s,
            starvation_ratio: e.starvation_ratio,
            cache_discount: e.cache_discount,
            ..BatchConfig::default()
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The tenants for a workload whose tenant indices are below `n`.
    pub fn tenants_for(&self, n: usize) -> Result<Vec<TenantSpec>> {
        if self.tenants.is_empty() {
            return Ok((0..n.max(1))
                .map(|i| TenantSpec {
                    name: format!("t{i}"),
                    weight: 1.0,
                })
                .collect());
        }
        if self.tenants.len() < n {
            let why = format!(
                "{} tenants configured, the workload uses index {}",
                self.tenants.len(),
                n - 1
            );
            return Err(Error::invalid("tenants", why));
        }
        let mut names = std::collections::BTreeSet::new();
        for t in &self.tenants {
            if t.name.is_empty() || !names.insert(t.name.as_str()) {
                return Err(Error::invalid(
                    "tenants",
                    format!("empty or duplicate name {:?}", t.name),
                ));
            }
        }
        Ok(self.tenants.clone())
    }

    /// Checks the scalar fields (the rest is checked when the model and configs are built).
    pub fn validate(&self) -> Result<()> {
        if !(1..=4096).contains(&self.replicas) {
            return Err(Error::invalid(
                "replicas",
                format!("must be in 1..=4096, got {}", self.replicas),
            ));
        }
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(
                    field,
                    format!("must be finite and > 0, got {v}"),
                ))
            }
        };
        positive("window_s", self.window_s)?;
        positive("slo.ttft_s", self.slo.ttft_s)?;
        positive("slo.tpot_s", self.slo.tpot_s)?;
        if let Some(e) = self.slo.e2e_s {
            positive("slo.e2e_s", e)?;
        }
        if !self.think_time_s.is_finite() || self.think_time_s < 0.0 {
            return Err(Error::invalid("think_time_s", "must be finite and >= 0"));
        }
        if !self.overlap_weight.is_finite() || self.overlap_weight < 0.0 {
            return Err(Error::invalid("overlap_weight", "must be finite and >= 0"));
        }
        if !self.workflow_weight.is_finite() || self.workflow_weight < 0.0 {
            return Err(Error::invalid("workflow_weight", "must be finite and >= 0"));
        }
        if !self.queue_weight.is_finite() || self.queue_weight < 0.0 {
            return Err(Error::invalid("queue_weight", "must be finite and >= 0"));
        }
        if !self.fleet_lag.is_finite() || self.fleet_lag < 0.0 {
            return Err(Error::invalid("fleet_lag", "must be finite and >= 0"));
        }
        if self.hash_block_tokens == 0 {
            return Err(Error::invalid("hash_block_tokens", "must be > 0"));
        }
        Ok(())
    }
}
