//! The report of a simulation run, computed in the core and serialized to JSON.
//!
//! Latencies: TTFT is first token minus (effective) arrival, TPOT is (last token - first
//! token) / (output tokens - 1) for requests with more than one output token, end-to-end is
//! last token minus arrival. A finished request meets the SLOs when its TTFT, TPOT (if
//! defined) and end-to-end latency (if an objective is set) are within them; goodput counts
//! those per second. Rates divide by the run's duration, from the first arrival to the last
//! event. Fairness compares the normalized service (weighted tokens / weight) received by
//! backlogged tenants in each window (see the timeline module).

use std::collections::BTreeMap;

use serde::Serialize;

use super::config::{SimConfig, Slo};
use super::engine::Sim;
use super::programs::ProgramsReport;
use super::request::{ReqState, Status};
use super::stats::{jain, spread, Dist};

/// The step-time model's key figures for the configured GPU and LLM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    pub gpu: String,
    pub model: String,
    pub tp: u32,
    pub weights_gb: f64,
    pub kv_capacity_tokens: u64,
    pub kv_blocks: u32,
    pub block_size: u32,
    /// One 1,000-token prompt alone.
    pub prefill_1k_s: f64,
    /// One decode step of 1 request at context 1,000.
    pub decode_b1_s: f64,
    /// One decode step of 64 requests at context 1,000.
    pub decode_b64_s: f64,
}

/// Latencies, volumes and rates of a group of requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    pub name: String,
    pub requests: u64,
    pub finished: u64,
    pub rejected: u64,
    pub input_tokens: u64,
    /// Prompt tokens of finished requests found in the prefix cache at their first admission.
    pub cached_prompt_tokens: u64,
    /// `cached_prompt_tokens / input_tokens` (0 without input).
    pub prefix_hit_rate: f64,
    pub output_tokens: u64,
    pub throughput_rps: f64,
    pub output_tps: f64,
    pub goodput_rps: f64,
    /// Share of all requests (rejected included) that finished within the SLOs.
    pub slo_attainment: f64,
    pub preemptions: u64,
    pub ttft_s: Dist,
    pub tpot_s: Dist,
    pub e2e_s: Dist,
}

/// A tenant's group report plus its share of service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantReport {
    pub weight: f64,
    /// Weighted tokens received (`w_in` per prefill token, `w_out` per output token).
    pub service: f64,
    pub normalized_service: f64,
    #[serde(flatten)]
    pub group: GroupReport,
}

/// Service differences between backlogged tenants, per window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fairness {
    pub window_s: f64,
    /// Windows with at least two backlogged tenants.
    pub windows_compared: u64,
    /// Largest max-min normalized service among backlogged tenants in one window.
    pub max_service_diff: f64,
    /// Mean over compared windows of the mean pairwise difference.
    pub mean_service_diff: f64,
    /// Mean over compared windows of Jain's index of backlogged tenants' normalized service.
    pub jain_index: f64,
}

/// Totals of one replica.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaReport {
    pub requests: u64,
    pub steps: u64,
    pub busy_s: f64,
    pub utilization: f64,
    pub kv_utilization: f64,
    pub preemptions: u64,
}

/// Per-window series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineReport {
    pub window_s: f64,
    pub start_s: Vec<f64>,
    pub arrivals: Vec<u64>,
    pub finished: Vec<u64>,
    pub output_tokens: Vec<u64>,
    pub gpu_utilization: Vec<f64>,
    pub kv_utilization: Vec<f64>,
    /// Per tenant (in tenant order), normalized service per window.
    pub tenant_service: Vec<Vec<f64>>,
}

/// The whole report of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub name: String,
    pub config: SimConfig,
    pub model: ModelSummary,
    pub duration_s: f64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub gpu_utilization: f64,
    pub kv_utilization: f64,
    pub steps: u64,
    /// `summary.prefix_hit_rate`: the share of finished requests' prompt tokens found in the
    /// prefix cache at their first admission (one definition, [`GroupReport::prefix_hit_rate`]).
    pub prefix_hit_rate: f64,
    pub summary: GroupReport,
    pub tenants: Vec<TenantReport>,
    pub priorities: Vec<GroupReport>,
    pub fairness: Fairness,
    pub replicas: Vec<ReplicaReport>,
    pub timeline: TimelineReport,
    /// Agent programs and single calls: completion time and where it went.
    pub programs: ProgramsReport,
}

/// Accumulates one group's requests.
#[derive(Debug, Default)]
struct Acc {
    requests: u64,
    finished: u64,
    rejected: u64,
    input: u64,
    cached: u64,
    output: u64,
    good: u64,
    preemptions: u64,
    ttft: Vec<f64>,
    tpot: Vec<f64>,
    e2e: Vec<f64>,
}

impl Acc {
    fn add(&mut self, q: &ReqState, prompt: u32, slo: &Slo) {
        self.requests += 1;
        self.preemptions += u64::from(q.preemptions);
        if q.status != Status::Finished {
            self.rejected += 1;
            return;
        }
        self.finished += 1;
        self.input += u64::from(prompt);
        self.cached += u64::from(q.cached_at_admission.min(prompt));
        self.output += u64::from(q.generated);
        let (ttft, e2e) = (q.first - q.arrival, q.finish - q.arrival);
        let tpot = (q.generated > 1).then(|| (q.finish - q.first) / f64::from(q.generated - 1));
        self.ttft.push(ttft);
        self.e2e.push(e2e);
        self.tpot.extend(tpot);
        let ok = ttft <= slo.ttft_s
            && tpot.is_none_or(|t| t <= slo.tpot_s)
            && slo.e2e_s.is_none_or(|l| e2e <= l);
        self.good += u64::from(ok);
    }

    fn report(mut self, name: String, duration: f64) -> GroupReport {
        let rate = |n: u64| n as f64 / duration;
        GroupReport {
            name,
            requests: self.requests,
            finished: self.finished,
            rejected: self.rejected,
            input_tokens: self.input,
            cached_prompt_tokens: self.cached,
            prefix_hit_rate: self.cached as f64 / self.input.max(1) as f64,
            output_tokens: self.output,
            throughput_rps: rate(self.finished),
            output_tps: rate(self.output),
            goodput_rps: rate(self.good),
            slo_attainment: self.good as f64 / self.requests.max(1) as f64,
            preemptions: self.preemptions,
            ttft_s: Dist::of(&mut self.ttft),
            tpot_s: Dist::of(&mut self.tpot),
            e2e_s: Dist::of(&mut self.e2e),
        }
    }
}

impl Report {
    /// The report of a finished run.
    pub(crate) fn build(sim: &Sim<'_>) -> Report {
        let duration = duration(sim);
        let (all, tenants, priorities) = groups(sim);
        let busy: f64 = sim.replicas.iter().map(|r| r.busy_s).sum();
        let kv: f64 = sim.replicas.iter().map(|r| r.kv_s).sum();
        let fleet = duration * sim.replicas.len() as f64;
        let service = tenant_service(sim);
        let summary = all.report("all".into(), duration);
        Report {
            name: sim.cfg.name.clone(),
            config: sim.cfg.clone(),
            model: model_summary(sim),
            duration_s: duration,
            rejected_by_reason: rejected_by_reason(&sim.reqs),
            gpu_utilization: busy / fleet,
            kv_utilization: kv / fleet,
            steps: sim.replicas.iter().map(|r| r.steps).sum(),
            prefix_hit_rate: summary.prefix_hit_rate,
            summary,
            tenants: tenants
                .into_iter()
                .zip(&sim.tenants)
                .zip(service)
                .map(|((acc, t), s)| TenantReport {
                    weight: t.weight,
                    service: s,
                    normalized_service: s / t.weight,
                    group: acc.report(t.name.clone(), duration),
                })
                .collect(),
            priorities: priorities
                .into_iter()
                .map(|(p, acc)| acc.report(format!("priority {p}"), duration))
                .collect(),
            fairness: fairness(sim),
            replicas: sim
                .replicas
                .iter()
                .map(|r| replica_report(r, duration))
                .collect(),
            timeline: timeline(sim),
            programs: ProgramsReport::build(sim, duration),
        }
    }

    /// The report as compact JSON (byte-identical for identical runs).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }
}

fn duration(sim: &Sim<'_>) -> f64 {
    let start = sim
        .reqs
        .iter()
        .map(|q| q.arrival)
        .filter(|a| a.is_finite())
        .fold(f64::INFINITY, f64::min);
    let end = sim
        .reqs
        .iter()
        .flat_map(|q| [q.arrival, q.finish])
        .filter(|t| t.is_finite())
        .fold(0.0, f64::max);
    if start.is_finite() && end > start {
        end - start
    } else {
        1.0
    }
}

fn groups(sim: &Sim<'_>) -> (Acc, Vec<Acc>, BTreeMap<i32, Acc>) {
    let mut all = Acc::default();
    let mut tenants: Vec<Acc> = (0..sim.tenants.len()).map(|_| Acc::default()).collect();
    let mut priorities: BTreeMap<i32, Acc> = BTreeMap::new();
    let slo = &sim.cfg.slo;
    for (i, q) in sim.reqs.iter().enumerate() {
        let prompt = sim.w.prompt[i];
        all.add(q, prompt, slo);
        tenants[sim.w.tenant[i] as usize].add(q, prompt, slo);
        priorities
            .entry(sim.w.priority[i])
            .or_default()
            .add(q, prompt, slo);
    }
    (all, tenants, priorities)
}

fn rejected_by_reason(reqs: &[ReqState]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for q in reqs {
        if let Status::Rejected(r) = q.status {
            *out.entry(r.name().to_string()).or_insert(0) += 1;
        }
    }
    out
}

fn model_summary(sim: &Sim<'_>) -> ModelSummary {
    let m = &sim.model;
    ModelSummary {
        gpu: m.gpu().name.clone(),
        model: m.llm().name.clone(),
        tp: m.options().tp,
        weights_gb: m.llm().weight_bytes() / 1e9,
        kv_capacity_tokens: m.kv_capacity_tokens(),
        kv_blocks: (sim.kv_capacity / f64::from(sim.block_size)) as u32,
        block_size: sim.block_size,
        prefill_1k_s: m.prefill_time(1000),
        decode_b1_s: m.decode_step_time(1, 1000),
        decode_b64_s: m.decode_step_time(64, 1000),
    }
}

fn tenant_service(sim: &Sim<'_>) -> Vec<f64> {
    let n = sim.tenants.len();
    let mut out = vec![0.0; n];
    for (k, s) in sim.timeline.service.iter().enumerate() {
        out[k % n] += s;
    }
    out
}

fn fairness(sim: &Sim<'_>) -> Fairness {
    let tl = &sim.timeline;
    let n = sim.tenants.len();
    let (mut compared, mut max_diff, mut mean_sum, mut jain_sum) = (0u64, 0.0f64, 0.0, 0.0);
    for w in 0..tl.windows() {
        let values: Vec<f64> = (0..n)
            .filter(|&t| tl.backlogged[w * n + t])
            .map(|t| tl.service[w * n + t] / sim.tenants[t].weight)
            .collect();
        if values.len() < 2 {
            continue;
        }
        let (max, mean) = spread(&values);
        compared += 1;
        max_diff = max_diff.max(max);
        mean_sum += mean;
        jain_sum += jain(&values);
    }
    let per = |x: f64| {
        if compared == 0 {
            0.0
        } else {
            x / compared as f64
        }
    };
    Fairness {
        window_s: tl.window_s,
        windows_compared: compared,
        max_service_diff: max_diff,
        mean_service_diff: per(mean_sum),
        jain_index: if compared == 0 { 1.0 } else { per(jain_sum) },
    }
}

fn replica_report(r: &super::replica::Replica, duration: f64) -> ReplicaReport {
    ReplicaReport {
        requests: r.routed,
        steps: r.steps,
        busy_s: r.busy_s,
        utilization: r.busy_s / duration,
        kv_utilization: r.kv_s / duration,
        preemptions: r.preemptions,
    }
}

fn timeline(sim: &Sim<'_>) -> TimelineReport {
    let tl = &sim.timeline;
    let (n, ws) = (sim.tenants.len(), tl.window_s);
    let fleet = ws * sim.replicas.len() as f64;
    TimelineReport {
        window_s: ws,
        start_s: (0..tl.windows()).map(|w| w as f64 * ws).collect(),
        arrivals: tl.arrivals.clone(),
        finished: tl.finished.clone(),
        output_tokens: tl.output_tokens.clone(),
        gpu_utilization: tl.busy_s.iter().map(|b| b / fleet).collect(),
        kv_utilization: tl.kv_s.iter().map(|k| k / fleet).collect(),
        tenant_service: (0..n)
            .map(|t| {
                (0..tl.windows())
                    .map(|w| tl.service[w * n + t] / sim.tenants[t].weight)
                    .collect()
            })
            .collect(),
    }
}
