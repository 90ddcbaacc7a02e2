//! The LLM serving simulator: conservation, determinism, workflows, admission.

use gpuplane_core::rng::SplitMix64;
use gpuplane_core::routing::RoutingPolicy;
use gpuplane_core::sim::{simulate, SimConfig, TenantSpec, Workload};

fn workload(n: usize, seed: u64) -> Workload {
    let mut rng = SplitMix64::new(seed);
    let mut w = Workload::default();
    let mut t = 0.0;
    for i in 0..n {
        t += rng.below(1000) as f64 / 10_000.0;
        w.arrival.push(t);
        w.prompt.push(1 + rng.below(3000) as u32);
        w.output.push(1 + rng.below(400) as u32);
        w.tenant.push((i % 3) as u32);
        w.priority.push((i % 2) as i32);
        w.workflow
            .push(if i % 5 == 0 { (i % 7) as i64 } else { -1 });
    }
    w
}

fn config(policy: &str, replicas: u32) -> SimConfig {
    SimConfig {
        policy: policy.into(),
        replicas,
        window_s: 5.0,
        ..SimConfig::default()
    }
}

#[test]
fn every_request_finishes_or_is_rejected_and_tokens_add_up() {
    let w = workload(2000, 1);
    for policy in ["fcfs", "priority", "fair", "deadline", "workflow_fair"] {
        let r = simulate(&config(policy, 2), &w).unwrap();
        let rejected: u64 = r.rejected_by_reason.values().sum();
        assert_eq!(r.summary.requests, 2000);
        assert_eq!(r.summary.finished + rejected, 2000, "{policy}");
        assert_eq!(rejected, 0, "{policy}: {:?}", r.rejected_by_reason);
        let out: u64 = w.output.iter().map(|&o| u64::from(o)).sum();
        let inp: u64 = w.prompt.iter().map(|&p| u64::from(p)).sum();
        assert_eq!(r.summary.output_tokens, out, "{policy}");
        assert_eq!(r.summary.input_tokens, inp, "{policy}");
        let per_tenant: u64 = r.tenants.iter().map(|t| t.group.output_tokens).sum();
        assert_eq!(per_tenant, out);
        assert!(r.summary.ttft_s.p50 > 0.0 && r.summary.ttft_s.p99 >= r.summary.ttft_s.p50);
    }
}

#[test]
fn same_inputs_give_byte_identical_reports() {
    let w = workload(1500, 2);
    for (_, routing) in RoutingPolicy::ALL {
        let cfg = SimConfig {
            routing,
            ..config("fair", 3)
        };
        let a = simulate(&cfg, &w).unwrap().to_json();
        let b = simulate(&cfg, &w).unwrap().to_json();
        assert_eq!(a, b);
    }
}

/// Two calls of workflow 7 and one single call, all at 0.
fn two_calls_and_one_single() -> Workload {
    let mut w = Workload::default();
    for i in 0..3 {
        w.arrival.push(0.0);
        w.prompt.push(100);
        w.output.push(50);
        w.tenant.push(0);
        w.priority.push(0);
        w.workflow.push(if i < 2 { 7 } else { -1 });
    }
    w
}

#[test]
fn workflow_calls_arrive_after_the_previous_call_finishes() {
    let w = two_calls_and_one_single();
    let cfg = SimConfig {
        think_time_s: 1.0,
        ..config("fcfs", 1)
    };
    let r = simulate(&cfg, &w).unwrap();
    assert_eq!(r.summary.finished, 3);
    // the second call starts 1 s after the first ends, so the run lasts > 1 s + 2 requests
    assert!(
        r.duration_s > 1.0 + 2.0 * r.model.decode_b1_s * 49.0,
        "{}",
        r.duration_s
    );
}

#[test]
fn queue_cap_rejects_with_a_reason_and_aborts_workflows() {
    let mut w = workload(500, 3);
    for a in &mut w.arrival {
        *a = 0.0;
    }
    let cfg = SimConfig {
        max_queue: 10,
        ..config("fcfs", 1)
    };
    let r = simulate(&cfg, &w).unwrap();
    let rejected: u64 = r.rejected_by_reason.values().sum();
    assert!(r.rejected_by_reason.get("queue_full").copied().unwrap_or(0) > 0);
    assert_eq!(r.summary.finished + rejected, 500);
}

#[test]
fn prompts_that_never_fit_are_rejected_too_long() {
    let mut w = workload(10, 4);
    w.prompt[3] = 1 << 24;
    let r = simulate(&config("fcfs", 1), &w).unwrap();
    assert_eq!(r.rejected_by_reason.get("too_long"), Some(&1));
    assert_eq!(r.summary.finished, 9);
}

#[test]
fn tenants_by_index_and_bad_inputs_are_refused() {
    let w = workload(10, 5);
    let named = SimConfig {
        tenants: vec![
            TenantSpec {
                name: "a".into(),
                weight: 2.0,
            },
            TenantSpec {
                name: "b".into(),
                weight: 1.0,
            },
            TenantSpec {
                name: "c".into(),
                weight: 1.0,
            },
        ],
        ..config("fair", 1)
    };
    let r = simulate(&named, &w).unwrap();
    assert_eq!(r.tenants[0].group.name, "a");
    let too_few = SimConfig {
        tenants: named.tenants[..1].to_vec(),
        ..named.clone()
    };
    assert!(simulate(&too_few, &w).is_err());
    let mut bad = w.clone();
    bad.arrival[2] = f64::NAN;
    assert!(simulate(&named, &bad).is_err());
    assert!(simulate(
        &SimConfig {
            gpu: "TPU".into(),
            ..named
        },
        &w
    )
    .is_err());
}

#[test]
fn more_replicas_lower_latency_under_load() {
    let mut w = workload(3000, 6);
    for a in &mut w.arrival {
        *a /= 10.0;
    }
    let one = simulate(&config("fcfs", 1), &w).unwrap();
    let four = simulate(&config("fcfs", 4), &w).unwrap();
    assert!(four.summary.ttft_s.p90 < one.summary.ttft_s.p90);
}

#[test]
fn kv_utilization_counts_shared_prefix_blocks_once() {
    // 64 requests share one 2,048-token prefix; the pool holds 4 prefixes' worth of blocks.
    let mut w = workload(64, 9);
    w.hash_offsets = vec![0];
    for i in 0..64 {
        w.arrival[i] = 0.0;
        w.prompt[i] = 2048 + 16;
        w.output[i] = 64;
        w.hashes.extend(0..4u64);
        w.hash_offsets.push(w.hashes.len() as u64);
    }
    let mut cfg = config("fcfs", 1);
    cfg.engine.kv_blocks = Some(4 * 2048 / 16);
    cfg.engine.block_size = 16;
    let r = simulate(&cfg, &w).unwrap();
    assert_eq!(r.summary.finished, 64);
    let u = r.kv_utilization;
    assert!(u > 0.0 && u <= 1.0, "{u}");
    assert!(r
        .timeline
        .kv_utilization
        .iter()
        .all(|&k| (0.0..=1.0).contains(&k)));
}

/// [`two_calls_and_one_single`], the second call after 2 s of tool time.
fn program_and_single() -> Workload {
    let mut w = two_calls_and_one_single();
    w.tool_time = vec![0.0, 2.0, 0.0];
    w
}

#[test]
fn programs_report_completion_split_into_waiting_running_and_tool_time() {
    let cfg = SimConfig {
        think_time_s: 0.5,
        ..config("program_las", 1)
    };
    let r = simulate(&cfg, &program_and_single()).unwrap();
    let (p, s) = (&r.programs.programs, &r.programs.single_calls);
    assert_eq!(
        (p.programs, p.finished, s.programs, s.finished),
        (1, 1, 1, 1)
    );
    assert_eq!((p.calls.p50, s.calls.p50), (2.0, 1.0));
    assert_eq!((p.tokens.p50, s.tokens.p50), (300.0, 150.0));
    assert!((p.tool_s.p50 - 2.5).abs() < 1e-9, "{}", p.tool_s.p50);
    assert_eq!(s.tool_s.p50, 0.0);
    for g in [p, s] {
        let parts = g.waiting_s.p50 + g.running_s.p50 + g.tool_s.p50;
        assert!((g.completion_s.p50 - parts).abs() < 1e-9, "{g:?}");
        assert!(g.running_s.p50 > 0.0);
    }
    assert_eq!(r.programs.tenants.len(), 1);
    assert_eq!(r.programs.tenants[0].programs, *p);
}

#[test]
fn bad_tool_times_are_refused_naming_the_entry() {
    let mut w = program_and_single();
    w.tool_time[1] = -1.0;
    let e = simulate(&config("fcfs", 1), &w).unwrap_err().to_string();
    assert!(e.contains("tool_time[1]"), "{e}");
    w.tool_time = vec![0.0];
    let e = simulate(&config("fcfs", 1), &w).unwrap_err().to_string();
    assert!(e.contains("tool_time"), "{e}");
}

#[test]
fn a_later_call_finds_its_predecessors_prefix_in_the_cache() {
    let mut w = two_calls_and_one_single();
    w.prompt = vec![1024, 1536, 1024];
    w.hash_offsets = vec![0, 2, 5, 5];
    w.hashes = vec![11, 12, 11, 12, 13];
    let r = simulate(&config("fcfs", 1), &w).unwrap();
    assert_eq!(
        r.summary.cached_prompt_tokens, 1024,
        "call 2 reuses call 1's two blocks"
    );
    assert!((r.summary.prefix_hit_rate - 1024.0 / 3584.0).abs() < 1e-12);
}

#[test]
fn the_report_has_one_prefix_hit_rate_counting_first_admissions() {
    // Shared 1,024-token prefixes on a small KV pool: requests are preempted and re-admitted.
    let mut w = workload(600, 4);
    w.workflow = vec![-1; 600];
    w.hash_offsets = (0..=600).map(|i| 2 * i as u64).collect();
    for i in 0..600 {
        w.prompt[i] = w.prompt[i].max(1_100);
        let t = u64::from(w.tenant[i]);
        w.hashes.extend([10 * t + 1, 10 * t + 2]);
    }
    let mut cfg = config("fcfs", 2);
    cfg.engine.kv_blocks = Some(1_200);
    let r = simulate(&cfg, &w).unwrap();
    assert!(
        r.summary.preemptions > 0,
        "the pool is small enough to preempt"
    );
    assert!(r.summary.cached_prompt_tokens > 0);
    assert_eq!(r.prefix_hit_rate, r.summary.prefix_hit_rate);
    let cached: u64 = r.tenants.iter().map(|t| t.group.cached_prompt_tokens).sum();
    let input: u64 = r.tenants.iter().map(|t| t.group.input_tokens).sum();
    assert_eq!(r.summary.prefix_hit_rate, cached as f64 / input as f64);
}
