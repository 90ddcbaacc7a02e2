use super::*;
use rustc_hash::FxHashSet;
use std::cmp::Ordering;

fn spec(id: &str, model: &str, tenant: &str, max_running: u32) -> ReplicaSpec {
    ReplicaSpec {
        id: id.into(),
        address: format!("{id}:8000"),
        model: model.into(),
        tenant: tenant.into(),
        kv_blocks: 100,
        max_running,
        ..Default::default()
    }
}

fn load(waiting: u32, kv_usage: f64, cached: &[u64]) -> Load {
    Load {
        waiting,
        kv_usage,
        cached: cached.iter().copied().collect(),
        ..Default::default()
    }
}

fn req(model: &str, hashes: &[u64]) -> RouteRequest {
    RouteRequest {
        tenant: "default".into(),
        model: model.into(),
        block_hashes: hashes.to_vec(),
        ..Default::default()
    }
}

fn two(policy: RoutingPolicy) -> Router {
    let options = RouterOptions {
        policy,
        ..RouterOptions::default()
    };
    let mut r = Router::configured(RouterLimits::default(), options).unwrap();
    r.register(spec("r1", "llama", "", 8)).unwrap();
    r.register(spec("r2", "llama", "", 8)).unwrap();
    r
}

#[test]
fn registrations_and_loads_are_bounded() {
    let limits = RouterLimits {
        max_replicas: 3,
        max_replicas_per_tenant: 1,
        max_load_entries: 1,
        max_tracked_requests: 1,
    };
    let mut r = Router::with_limits(limits);
    r.register(spec("a1", "m", "a", 1)).unwrap();
    assert!(matches!(
        r.register(spec("a2", "m", "a", 1)),
        Err(Error::Capacity(_))
    ));
    r.register(spec("a1", "m", "a", 1)).unwrap();
    r.register(spec("s1", "m", "", 1)).unwrap();
    r.register(spec("s2", "m", "", 1)).unwrap();
    assert!(matches!(
        r.register(spec("s3", "m", "", 1)),
        Err(Error::Capacity(_))
    ));
    let mut big = load(0, 0.0, &[]);
    big.tenant_service = [("a".into(), 1.0), ("b".into(), 1.0)].into();
    let err = r.report_load("a1", big).unwrap_err();
    assert!(matches!(err, Error::InvalidRequest { ref field, .. } if field == "tenant_service"));
    let mut q = req("m", &[]);
    q.id = "q1".into();
    r.dispatch(&q).unwrap();
    assert!(matches!(r.dispatch(&q), Err(Error::Conflict(_))));
    q.id = "q2".into();
    assert!(matches!(r.dispatch(&q), Err(Error::Capacity(_))));
}

#[test]
fn pages_follow_id_order_and_show_a_tenant_its_own_and_shared() {
    let mut r = Router::new();
    for (id, tenant) in [("s2", ""), ("a1", "a"), ("s1", ""), ("b1", "b")] {
        r.register(spec(id, "m", tenant, 1)).unwrap();
    }
    let ids = |(page, more): (Vec<&ReplicaStatus>, bool)| {
        let ids: Vec<String> = page.iter().map(|s| s.spec.id.clone()).collect();
        (ids, more)
    };
    assert_eq!(
        ids(r.page("", 2, None)),
        (vec!["a1".into(), "b1".into()], true)
    );
    assert_eq!(
        ids(r.page("b1", 2, None)),
        (vec!["s1".into(), "s2".into()], false)
    );
    let mine = ids(r.page("", 10, Some("a")));
    assert_eq!(mine, (vec!["a1".into(), "s1".into(), "s2".into()], false));
    r.unregister("a1").unwrap();
    let all: Vec<&str> = r.replicas().map(|s| s.spec.id.as_str()).collect();
    assert_eq!(
        all,
        ["b1", "s1", "s2"],
        "unregister keeps the others reachable"
    );
    assert_eq!(r.replica("s2").unwrap().spec.id, "s2");
}

#[test]
fn prefix_overlap_counts_leading_blocks_only() {
    let cached: FxHashSet<u64> = [1, 2, 4].into_iter().collect();
    assert_eq!(prefix_overlap(&[1, 2, 3, 4], &cached), 2);
    assert_eq!(prefix_overlap(&[3, 1], &cached), 0);
    assert_eq!(prefix_overlap(&[], &cached), 0);
}

#[test]
fn tenant_excess_is_share_above_equal() {
    let s: BTreeMap<String, f64> = [("a".to_string(), 3.0), ("b".to_string(), 1.0)].into();
    assert!((tenant_excess(&s, "a") - 0.25).abs() < 1e-12);
    assert_eq!(tenant_excess(&s, "b"), 0.0);
    assert_eq!(tenant_excess(&s, "c"), 0.0);
}

#[test]
fn cost_model_trades_cached_blocks_against_load_blocks() {
    let mut r = two(RoutingPolicy::Cost);
    // r1: 3 of 4 blocks cached, 10 blocks in use + 1 waiting; r2: empty.
    r.report_load("r1", load(1, 0.1, &[1, 2, 3])).unwrap();
    let c = r.route(&req("llama", &[1, 2, 3, 4])).unwrap();
    assert_eq!(
        (c.replica_id.as_str(), c.prefix_blocks),
        ("r2", 0),
        "3 saved < 11 queued"
    );
    assert_eq!(
        c.reason(),
        "prefix +0.000, adapter +0.000, load -0.000, fair -0.000"
    );
    let hashes: Vec<u64> = (1..=20).collect();
    r.report_load("r1", load(1, 0.1, &hashes)).unwrap();
    let c = r.route(&req("llama", &hashes)).unwrap();
    assert_eq!(
        (c.replica_id.as_str(), c.prefix_blocks),
        ("r1", 20),
        "20 saved > 11 queued"
    );
    assert!((c.score - 9.0).abs() < 1e-9, "{}", c.reason());
    assert_eq!(
        c.reason(),
        "prefix +20.000, adapter +0.000, load -11.000, fair -0.000"
    );
}

#[test]
fn locality_survives_load_when_both_replicas_are_busy() {
    // Both deep in backlog: what matters is the difference, not the level.
    let mut r = two(RoutingPolicy::Cost);
    let hashes: Vec<u64> = (1..=40).collect();
    let mut busy = load(50, 1.0, &hashes);
    busy.waiting_blocks = 2_000;
    r.report_load("r1", busy).unwrap();
    let mut other = load(45, 1.0, &[]);
    other.waiting_blocks = 1_980;
    r.report_load("r2", other).unwrap();
    assert_eq!(r.route(&req("llama", &hashes)).unwrap().replica_id, "r1");
    // Least loaded ignores the cache and takes the shorter queue.
    let mut ll = two(RoutingPolicy::LeastLoaded);
    for id in ["r1", "r2"] {
        let l = r.replica(id).unwrap().load.clone();
        ll.report_load(id, l).unwrap();
    }
    assert_eq!(ll.route(&req("llama", &hashes)).unwrap().replica_id, "r2");
}

#[test]
fn prefix_policy_follows_the_cache_at_any_load() {
    let mut r = two(RoutingPolicy::Prefix);
    let mut l = load(500, 1.0, &[7]);
    l.waiting_blocks = 50_000;
    r.report_load("r1", l).unwrap();
    assert_eq!(r.route(&req("llama", &[7, 8])).unwrap().replica_id, "r1");
    assert_eq!(r.route(&req("llama", &[9])).unwrap().replica_id, "r2");
}

#[test]
fn round_robin_cycles_in_id_order_on_dispatch() {
    let mut r = two(RoutingPolicy::RoundRobin);
    r.register(spec("r0", "llama", "", 8)).unwrap();
    r.report_load("r0", load(9, 1.0, &[])).unwrap();
    let chosen: Vec<String> = (0..5)
        .map(|_| r.dispatch(&req("llama", &[])).unwrap().replica_id)
        .collect();
    assert_eq!(chosen, ["r0", "r1", "r2", "r0", "r1"]);
}

#[test]
fn resident_adapter_is_worth_its_blocks() {
    let mut r = two(RoutingPolicy::Cost);
    let mut l = load(0, 0.2, &[]);
    l.adapters.insert("sql".into());
    r.report_load("r1", l).unwrap();
    let mut q = req("llama", &[]);
    q.adapter = "sql".into();
    let c = r.route(&q).unwrap();
    assert_eq!(
        (c.replica_id.as_str(), c.terms.adapter),
        ("r1", ADAPTER_BLOCKS)
    );
    assert_eq!(r.route(&req("llama", &[])).unwrap().replica_id, "r2");
}

#[test]
fn fair_term_scales_the_load_a_dominant_tenant_sees() {
    let mut r = two(RoutingPolicy::TenantFair);
    let mut busy = load(0, 0.1, &[]);
    busy.tenant_service = [("a".to_string(), 9.0), ("b".to_string(), 1.0)].into();
    r.report_load("r1", busy).unwrap();
    r.report_load("r2", load(0, 0.12, &[])).unwrap();
    let mut q = req("llama", &[]);
    q.tenant = "a".into();
    // r1: 10 blocks x (1 + 0.4) = 14 > r2's 12.
    let c = r.route(&q).unwrap();
    assert_eq!(c.replica_id, "r2");
    q.tenant = "b".into();
    assert_eq!(r.route(&q).unwrap().replica_id, "r1");
    let t = r.route(&RouteRequest {
        tenant: "a".into(),
        ..req("llama", &[])
    });
    assert!(
        (t.unwrap().terms.fair).abs() < 1e-12,
        "r2 has no service: no excess"
    );
}

/// Two equally loaded replicas, tenant `a` queued only on r2 and `b` only on r1.
fn queued_apart(queue_weight: f64) -> Router {
    let options = RouterOptions {
        policy: RoutingPolicy::Cost,
        queue_weight,
        ..RouterOptions::default()
    };
    let mut r = Router::configured(RouterLimits::default(), options).unwrap();
    for (id, tenant) in [("r1", "b"), ("r2", "a")] {
        r.register(spec(id, "llama", "", 8)).unwrap();
        let mut l = load(4, 0.5, &[]);
        l.tenant_waiting = [(tenant.to_string(), 4)].into();
        r.report_load(id, l).unwrap();
    }
    r
}

#[test]
fn queue_term_sends_a_tenant_where_it_is_not_queued() {
    let a = RouteRequest {
        tenant: "a".into(),
        ..req("llama", &[])
    };
    // Without the term the tie goes to the greater id, where `a` already waits.
    assert_eq!(queued_apart(0.0).route(&a).unwrap().replica_id, "r2");
    let mut r = queued_apart(2.0);
    assert_eq!(r.route(&a).unwrap().replica_id, "r1");
    let b = RouteRequest {
        tenant: "b".into(),
        ..a.clone()
    };
    assert_eq!(r.route(&b).unwrap().replica_id, "r2");
    // Against its fleet share: once `a` is all the fleet's queue, r2 is no busier for it.
    r.report_waiting("r1", BTreeMap::new()).unwrap();
    let only = r.route(&a).unwrap();
    assert_eq!((only.replica_id.as_str(), only.terms.fair), ("r2", 0.0));
    let err = r.report_waiting("r1", [(" a".to_string(), 1)].into());
    assert!(err.unwrap_err().to_string().contains("tenant_waiting"));
}

#[test]
fn ties_go_to_fewer_waiting_then_greater_id() {
    let mut r = Router::new();
    for (id, max_running) in [("a", 1), ("b", 2), ("c", 1)] {
        let mut s = spec(id, "m", "", max_running);
        s.kv_blocks = 0;
        r.register(s).unwrap();
    }
    r.report_load("a", load(1, 0.0, &[])).unwrap();
    r.report_load("b", load(1, 0.0, &[])).unwrap();
    r.report_load("c", load(1, 0.0, &[])).unwrap();
    assert_eq!(r.route(&req("m", &[])).unwrap().replica_id, "c");
    r.unregister("c").unwrap();
    assert_eq!(r.route(&req("m", &[])).unwrap().replica_id, "b");
}

#[test]
fn candidates_match_model_and_tenant() {
    let mut r = Router::new();
    r.register(spec("shared", "llama", "", 8)).unwrap();
    r.register(spec("mine", "llama", "a", 8)).unwrap();
    r.register(spec("other", "mistral", "", 8)).unwrap();
    r.report_load("shared", load(4, 0.9, &[])).unwrap();
    let mut q = req("llama", &[]);
    q.tenant = "a".into();
    assert_eq!(r.route(&q).unwrap().replica_id, "mine");
    q.tenant = "b".into();
    assert_eq!(r.route(&q).unwrap().replica_id, "shared");
    q.model = String::new();
    assert_eq!(r.route(&q).unwrap().replica_id, "other");
    q.model = "gpt".into();
    assert!(matches!(r.route(&q), Err(Error::NotFound { .. })));
}

#[test]
fn registry_errors_and_reregistration_keeps_load() {
    let mut r = Router::new();
    assert!(matches!(
        r.route(&req("", &[])),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        r.report_load("x", Load::default()),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        r.register(spec("", "m", "", 1)),
        Err(Error::InvalidRequest { .. })
    ));
    r.register(spec("x", "m", "", 1)).unwrap();
    assert!(matches!(
        r.report_load("x", load(0, 1.5, &[])),
        Err(Error::InvalidRequest { .. })
    ));
    let mut bad = Load::default();
    bad.tenant_service.insert("t".into(), f64::NAN);
    assert!(r.report_load("x", bad).is_err());
    r.report_load("x", load(3, 0.5, &[7])).unwrap();
    r.register(spec("x", "m2", "", 2)).unwrap();
    let x = r.replica("x").unwrap();
    assert_eq!((x.spec.model.as_str(), x.load.waiting), ("m2", 3));
    assert!(r.unregister("x").is_ok());
    assert!(r.unregister("x").is_err());
    assert!(r.is_empty());
    let options = RouterOptions {
        overlap_weight: -1.0,
        ..RouterOptions::default()
    };
    let e = Router::configured(RouterLimits::default(), options).unwrap_err();
    assert!(e.to_string().contains("overlap_weight"), "{e}");
}

#[test]
fn dispatched_blocks_count_until_the_next_report() {
    let mut r = two(RoutingPolicy::Cost);
    let mut q = req("llama", &[]);
    q.prompt_tokens = 160;
    let chosen: Vec<String> = (0..4).map(|_| r.dispatch(&q).unwrap().replica_id).collect();
    // 10 blocks each: the second goes to the other replica, and so on.
    assert_eq!(chosen, ["r2", "r1", "r2", "r1"]);
    assert_eq!(r.replica("r2").unwrap().unreported_blocks, 20);
    r.report_counts("r2", Counts::default()).unwrap();
    assert_eq!(r.replica("r2").unwrap().unreported_blocks, 0);
    assert_eq!(r.replica("r2").unwrap().routed, 2);
}

#[test]
fn finish_ends_tracking_and_charges_the_fleet_counter() {
    let mut r = two(RoutingPolicy::Cost);
    r.fleet_mut().set_weight("b", 2.0).unwrap();
    let mut q = req("llama", &[]);
    q.tenant = "b".into();
    q.id = "q1".into();
    let to = r.dispatch(&q).unwrap().replica_id;
    assert_eq!(r.replica(&to).unwrap().in_flight, 1);
    assert!(r.fleet().backlogged(r.fleet().find("b").unwrap()));
    assert_eq!(r.tracked_tenant("q1"), Some("b"));
    assert_eq!(r.finish_tokens("q1", 100, 100).unwrap(), to);
    assert_eq!(r.tracked_tenant("q1"), None);
    assert_eq!(r.replica(&to).unwrap().in_flight, 0);
    assert_eq!(r.fleet().counter_of("b"), 150.0);
    assert!(matches!(r.finish("q1", 1.0), Err(Error::NotFound { .. })));
    q.id = "q2".into();
    r.dispatch(&q).unwrap();
    let e = r.finish("q2", f64::NAN).unwrap_err();
    assert!(e.to_string().contains("served"), "{e}");
    assert_eq!(r.tracked_requests(), 1);
}

#[test]
fn cache_events_and_counts_update_a_load_in_place() {
    let mut r = two(RoutingPolicy::Cost);
    let mut l = load(0, 0.0, &[]);
    l.adapters.insert("x".into());
    r.report_load("r1", l).unwrap();
    let ev = [
        CacheEvent::Stored(5),
        CacheEvent::Stored(6),
        CacheEvent::Removed(5),
    ];
    r.apply_cache_events("r1", &ev).unwrap();
    let counts = Counts {
        waiting: 2,
        running: 1,
        kv_usage: 0.5,
        waiting_blocks: 7,
        ..Counts::default()
    };
    r.report_counts("r1", counts).unwrap();
    let s = r.replica("r1").unwrap();
    assert_eq!(s.load.cached, [6].into_iter().collect());
    assert!(s.load.adapters.contains("x"));
    assert_eq!(s.load_blocks(), 50.0 + 7.0 + 2.0);
    let bad = Counts {
        kv_usage: 2.0,
        ..counts
    };
    assert!(r.report_counts("r1", bad).is_err());
    assert!(r.apply_cache_events("nope", &ev).is_err());
}

#[test]
fn policies_parse_by_name() {
    for (name, p) in RoutingPolicy::ALL {
        assert_eq!(RoutingPolicy::parse(name).unwrap(), p);
        assert_eq!(p.name(), name);
    }
    let e = RoutingPolicy::parse("fastest").unwrap_err();
    assert!(e.to_string().contains("routing"), "{e}");
}

/// The straightforward scan the route loop must agree with: every replica in id order, its
/// overlap by probing its cache, its excess and adapter from its last load, the best by score,
/// then fewer waiting, then fewer in flight, then the greater id (round robin: fewest
/// dispatched, then the smaller id). Returns the chosen id, score, prefix blocks and terms.
fn scan(r: &Router, req: &RouteRequest) -> Option<(String, f64, u32, ScoreTerms)> {
    let policy = r.options().policy;
    let o = r.options();
    let w = policy.weights(o.overlap_weight, o.queue_weight);
    let mut best: Option<(&ReplicaStatus, f64, u32, ScoreTerms)> = None;
    for rep in r.replicas() {
        let model_ok = req.model.is_empty() || rep.spec.model == req.model;
        let tenant_ok = rep.spec.tenant.is_empty() || rep.spec.tenant == req.tenant;
        if !model_ok || !tenant_ok {
            continue;
        }
        let prefix = prefix_overlap(&req.block_hashes, &rep.load.cached) as u32;
        let terms = if policy == RoutingPolicy::RoundRobin {
            ScoreTerms {
                load: -(rep.routed as f64),
                ..ScoreTerms::default()
            }
        } else {
            let resident = !req.adapter.is_empty() && rep.load.adapters.contains(&req.adapter);
            let excess = Excess {
                service: tenant_excess(&rep.load.tenant_service, &req.tenant),
                queue: queue_excess(r, rep, &req.tenant),
            };
            score::terms(&w, rep.load_blocks(), prefix, resident, excess)
        };
        let score = terms.total();
        let wins = match &best {
            None => true,
            Some((_, bs, _, _)) if policy == RoutingPolicy::RoundRobin => score > *bs,
            Some((b, bs, _, _)) => {
                let key = |x: &ReplicaStatus, s: f64| {
                    (
                        s,
                        std::cmp::Reverse(x.effective_waiting()),
                        std::cmp::Reverse(x.in_flight),
                    )
                };
                // Ids ascend, so a full tie goes to this (greater) id.
                key(rep, score).partial_cmp(&key(b, *bs)) != Some(Ordering::Less)
            }
        };
        if wins {
            best = Some((rep, score, prefix, terms));
        }
    }
    best.map(|(b, s, p, t)| (b.spec.id.clone(), s, p, t))
}

/// How far `tenant`'s share of `rep`'s reported waiting requests exceeds its share of all
/// replicas' (the queue-share excess, straight from the loads).
fn queue_excess(r: &Router, rep: &ReplicaStatus, tenant: &str) -> f64 {
    let sum = |m: &std::collections::BTreeMap<String, u32>| {
        m.values().map(|&n| u64::from(n)).sum::<u64>()
    };
    let here = sum(&rep.load.tenant_waiting);
    let mine = rep.load.tenant_waiting.get(tenant).copied().unwrap_or(0);
    if here == 0 || mine == 0 {
        return 0.0;
    }
    let fleet: u64 = r.replicas().map(|x| sum(&x.load.tenant_waiting)).sum();
    let fleet_mine: u64 = r
        .replicas()
        .map(|x| u64::from(x.load.tenant_waiting.get(tenant).copied().unwrap_or(0)))
        .sum();
    (f64::from(mine) / here as f64 - fleet_mine as f64 / fleet as f64).max(0.0)
}

mod fast_path_matches_scan {
    use super::*;
    use proptest::prelude::*;

    /// One change to the fleet.
    #[derive(Debug, Clone)]
    enum Op {
        Register {
            id: u8,
            model: u8,
            tenant: u8,
            kv: u32,
            max_running: u32,
        },
        Report {
            id: u8,
            waiting: u32,
            kv: u8,
            waiting_blocks: u32,
            cached: Vec<u64>,
            service: Vec<(u8, u8)>,
            adapters: Vec<u8>,
            queued: Vec<(u8, u8)>,
        },
        Waiting {
            id: u8,
            queued: Vec<(u8, u8)>,
        },
        Counts {
            id: u8,
            waiting: u32,
            kv: u8,
        },
        Cache {
            id: u8,
            stored: bool,
            hash: u64,
        },
        Dispatch {
            model: u8,
            tenant: u8,
            hashes: Vec<u64>,
            tracked: bool,
        },
        Done {
            id: u8,
        },
        Unregister {
            id: u8,
        },
    }

    const MODELS: [&str; 2] = ["m0", "m1"];
    const TENANTS: [&str; 3] = ["", "a", "b"];

    fn op() -> impl Strategy<Value = Op> {
        let id = 0u8..12;
        let hashes = proptest::collection::vec(0u64..6, 0..6);
        prop_oneof![
            3 => (id.clone(), 0u8..2, 0u8..4, 0u32..4, 0u32..4).prop_map(|(id, model, tenant, kv, max_running)| {
                // Most replicas shared; tenant 3 maps to shared too.
                Op::Register { id, model, tenant: tenant % 3, kv: kv * 10, max_running }
            }),
            4 => (
                id.clone(),
                0u32..3,
                0u8..3,
                0u32..3,
                hashes.clone(),
                proptest::collection::vec((0u8..3, 0u8..4), 0..3),
                proptest::collection::vec(0u8..2, 0..2),
                queued(),
            )
                .prop_map(|(id, waiting, kv, waiting_blocks, cached, service, adapters, queued)| Op::Report {
                    id, waiting, kv, waiting_blocks, cached, service, adapters, queued,
                }),
            2 => (id.clone(), queued()).prop_map(|(id, queued)| Op::Waiting { id, queued }),
            1 => (id.clone(), 0u32..3, 0u8..3).prop_map(|(id, waiting, kv)| Op::Counts { id, waiting, kv }),
            1 => (id.clone(), any::<bool>(), 0u64..6).prop_map(|(id, stored, hash)| Op::Cache { id, stored, hash }),
            2 => (0u8..2, 0u8..3, hashes, any::<bool>()).prop_map(|(model, tenant, hashes, tracked)| Op::Dispatch { model, tenant, hashes, tracked }),
            1 => id.clone().prop_map(|id| Op::Done { id }),
            1 => id.prop_map(|id| Op::Unregister { id }),
        ]
    }

    /// Waiting requests per tenant index (`a`, `b`, `c`).
    fn queued() -> impl Strategy<Value = Vec<(u8, u8)>> {
        proptest::collection::vec((0u8..3, 0u8..5), 0..3)
    }

    fn by_tenant(queued: &[(u8, u8)]) -> std::collections::BTreeMap<String, u32> {
        queued
            .iter()
            .map(|&(t, n)| (["a", "b", "c"][t as usize].to_string(), u32::from(n)))
            .collect()
    }

    fn name(id: u8) -> String {
        format!("r{id:02}")
    }

    fn apply(r: &mut Router, op: &Op, serial: &mut u32) {
        // Errors (unknown replica, no candidate) leave the router as it was; ignore them.
        let _ = match op {
            Op::Register {
                id,
                model,
                tenant,
                kv,
                max_running,
            } => r.register(ReplicaSpec {
                id: name(*id),
                address: format!("{}:1", name(*id)),
                model: MODELS[*model as usize].into(),
                tenant: TENANTS[*tenant as usize].into(),
                kv_blocks: *kv,
                max_running: *max_running,
                ..Default::default()
            }),
            Op::Report {
                id,
                waiting,
                kv,
                waiting_blocks,
                cached,
                service,
                adapters,
                queued,
            } => {
                let load = Load {
                    waiting: *waiting,
                    kv_usage: f64::from(*kv) / 2.0,
                    waiting_blocks: *waiting_blocks,
                    cached: cached.iter().copied().collect(),
                    tenant_service: service
                        .iter()
                        .map(|&(t, v)| (["a", "b", "c"][t as usize].to_string(), f64::from(v)))
                        .collect(),
                    adapters: adapters.iter().map(|a| format!("lora{a}")).collect(),
                    tenant_waiting: by_tenant(queued),
                    ..Default::default()
                };
                r.report_load(&name(*id), load)
            }
            Op::Waiting { id, queued } => r.report_waiting(&name(*id), by_tenant(queued)),
            Op::Counts { id, waiting, kv } => r.report_counts(
                &name(*id),
                Counts {
                    waiting: *waiting,
                    kv_usage: f64::from(*kv) / 2.0,
                    ..Default::default()
                },
            ),
            Op::Cache { id, stored, hash } => {
                let e = if *stored {
                    CacheEvent::Stored(*hash)
                } else {
                    CacheEvent::Removed(*hash)
                };
                r.apply_cache_events(&name(*id), &[e])
            }
            Op::Dispatch {
                model,
                tenant,
                hashes,
                tracked,
            } => {
                *serial += 1;
                let req = RouteRequest {
                    id: if *tracked {
                        format!("q{serial}")
                    } else {
                        String::new()
                    },
                    tenant: ["a", "b", "c"][*tenant as usize].into(),
                    model: MODELS[*model as usize].into(),
                    block_hashes: hashes.clone(),
                    prompt_tokens: 16 * hashes.len() as u32,
                    ..Default::default()
                };
                r.dispatch(&req).map(|_| ())
            }
            Op::Done { id } => r.note_done(&name(*id)),
            Op::Unregister { id } => r.unregister(&name(*id)).map(|_| ()),
        };
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn route_picks_what_a_full_scan_picks(
            ops in proptest::collection::vec(op(), 0..40),
            queries in proptest::collection::vec(
                (0u8..3, 0u8..4, proptest::collection::vec(0u64..6, 0..6), 0u8..3),
                1..6,
            ),
        ) {
            let policies = RoutingPolicy::ALL.iter().flat_map(|&(_, p)| [(p, 0.0), (p, 2.0)]);
            for (policy, queue_weight) in policies {
                let options = RouterOptions { policy, queue_weight, ..RouterOptions::default() };
                let mut r = Router::configured(RouterLimits::default(), options).unwrap();
                let mut serial = 0;
                for op in &ops {
                    apply(&mut r, op, &mut serial);
                    for (model, tenant, hashes, adapter) in &queries {
                        let req = RouteRequest {
                            tenant: ["a", "b", "c", ""][*tenant as usize].into(),
                            model: ["m0", "m1", ""][*model as usize].into(),
                            block_hashes: hashes.clone(),
                            adapter: ["", "lora0", "lora1"][*adapter as usize].into(),
                            ..Default::default()
                        };
                        let want = scan(&r, &req);
                        match r.route(&req) {
                            Ok(got) => {
                                let (id, score, prefix, terms) = want.clone().expect("scan finds one too");
                                prop_assert_eq!(&got.replica_id, &id, "{:?} {:?}", policy, req);
                                prop_assert_eq!(got.score, score);
                                prop_assert_eq!(got.prefix_blocks, prefix);
                                prop_assert_eq!(got.terms, terms);
                                prop_assert_eq!(got.reason(), terms.reason());
                            }
                            Err(_) => prop_assert!(want.is_none()),
                        }
                    }
                }
            }
        }
    }
}

/// Two idle-ish replicas; a program's first call goes to one, its next call (no hashes)
/// returns there unless the load there outweighs the previous call's blocks.
#[test]
fn a_programs_next_call_returns_to_its_replica_unless_load_says_otherwise() {
    let mut r = Router::new();
    for id in ["a", "b"] {
        r.register(spec(id, "m", "", 8)).unwrap();
    }
    let call = |w: u64| RouteRequest {
        prompt_tokens: 16 * 32,
        workflow: Some(w),
        ..RouteRequest::default()
    };
    let first = r.dispatch(&call(7)).unwrap().replica_id;
    assert_eq!(r.program_replica(7), Some(first.as_str()));
    // The first call's blocks now count as load there: without the workflow term the next
    // call would go to the other replica.
    let next = r.route(&call(7)).unwrap();
    assert_eq!(next.replica_id, first);
    assert_eq!(next.terms.workflow, 32.0);
    assert!(
        next.reason().contains("workflow +32.000"),
        "{}",
        next.reason()
    );
    let other = r.route(&call(8)).unwrap();
    assert_ne!(other.replica_id, first, "an unknown program goes by load");
    // Much more load at home (90 blocks) than the previous call's 32 blocks: load wins.
    let other_id = if first == "a" { "b" } else { "a" };
    r.report_load(&first, load(0, 0.9, &[])).unwrap();
    r.report_load(other_id, load(0, 0.0, &[])).unwrap();
    let busy = r.route(&call(7)).unwrap();
    assert_eq!(busy.terms.workflow, 0.0);
    assert_ne!(busy.replica_id, first);
    r.end_program(7);
    assert_eq!(r.known_programs(), 0);
}

fn program_call(tenant: &str, workflow: u64) -> RouteRequest {
    RouteRequest {
        tenant: tenant.to_string(),
        workflow: Some(workflow),
        ..RouteRequest::default()
    }
}

#[test]
fn remembered_programs_are_bounded() {
    let mut r = Router::new();
    r.register(spec("a", "m", "", 8)).unwrap();
    for w in 0..(MAX_PROGRAM_PLACES as u64 + 10) {
        let tenant = format!("t{}", w % 8);
        r.dispatch(&program_call(&tenant, w)).unwrap();
    }
    assert_eq!(r.known_programs(), MAX_PROGRAM_PLACES);
    assert_eq!(
        r.program_replica(0),
        None,
        "the least recently routed is forgotten"
    );
    assert_eq!(r.program_replica(MAX_PROGRAM_PLACES as u64 + 9), Some("a"));
}

#[test]
fn a_tenant_routing_ever_new_programs_pushes_out_only_its_own() {
    let mut r = Router::new();
    r.register(spec("a", "m", "", 8)).unwrap();
    r.dispatch(&program_call("quiet", 1)).unwrap();
    for w in 0..(MAX_PROGRAM_PLACES as u64 + 10) {
        r.dispatch(&program_call("noisy", 100 + w)).unwrap();
    }
    assert_eq!(
        r.program_replica(1),
        Some("a"),
        "the quiet tenant's program is kept"
    );
    assert_eq!(r.known_programs(), MAX_TENANT_PROGRAM_PLACES + 1);
    assert_eq!(
        r.program_replica(100),
        None,
        "the noisy tenant's oldest is forgotten"
    );
}

#[test]
fn a_negative_workflow_weight_is_refused() {
    let options = RouterOptions {
        workflow_weight: -1.0,
        ..RouterOptions::default()
    };
    let err = Router::configured(RouterLimits::default(), options).unwrap_err();
    assert!(err.to_string().contains("workflow_weight"), "{err}");
}
