//! Properties of the policy engine over random trees, quotas, demands and arrival sequences:
//! fair-share bounds, incremental == full recomputation, each preemption law, no preemption
//! loops, and decayed usage against the half-life formula.

use std::collections::{BTreeMap, BTreeSet};

use gpuplane_core::policy::{
    AdmissionRequest, Policy, PolicyConfig, PriorityClass, Quota, Reason, Resource, Resources,
    Running, TenantSpec,
};
use gpuplane_core::rng::SplitMix64;
use proptest::prelude::*;

const MIB_PER_GPU: f64 = 1000.0;

/// `n` GPUs with their memory.
fn res(n: f64) -> Resources {
    Resources::new(n, n * MIB_PER_GPU, 0.0, 0.0)
}

struct World {
    p: Policy,
    leaves: Vec<String>,
    nodes: Vec<String>,
    rng: SplitMix64,
}

fn unit(rng: &mut SplitMix64) -> f64 {
    rng.below(1001) as f64 / 1000.0
}

/// Quotas for `k` children of a parent guaranteeing `pg` and deserving `pd` GPUs.
fn child_quotas(rng: &mut SplitMix64, k: usize, pg: f64, pd: f64) -> Vec<Quota> {
    let fracs: Vec<f64> = (0..k).map(|_| 1.0 + rng.below(10) as f64).collect();
    let total: f64 = fracs.iter().sum();
    let g_scale = unit(rng);
    fracs
        .iter()
        .map(|f| {
            let g = (pg * g_scale * f / total * 4.0).floor() / 4.0;
            let d = g + (pd * unit(rng) / k as f64).floor();
            let mut q = Quota {
                guaranteed: res(g),
                deserved: res(d),
                over_quota_priority: rng.below(2) as i32,
                over_quota_weight: 0.5 + rng.below(6) as f64 / 2.0,
                ..Quota::default()
            };
            if rng.below(3) == 0 {
                let l = d + rng.below(8) as f64;
                q.limit.set(Resource::Gpus, Some(l));
                q.limit.set(Resource::MemoryMib, Some(l * MIB_PER_GPU));
            }
            q
        })
        .collect()
}

/// A random 3-level tree (org -> team -> tenant) on a random cluster.
fn world(seed: u64, cfg: PolicyConfig) -> World {
    let mut rng = SplitMix64::new(seed);
    let cap = 8.0 + rng.below(56) as f64;
    let mut p = Policy::new(cfg).unwrap();
    p.set_capacity(Resources::new(cap, cap * MIB_PER_GPU, 1e4, 1e3))
        .unwrap();
    p.upsert_class(PriorityClass::new("mid", 5, true)).unwrap();
    let (mut leaves, mut nodes) = (Vec::new(), Vec::new());
    let mut level: Vec<(Option<String>, f64, f64)> = vec![(None, cap, cap)];
    for depth in 0..3 {
        let mut next = Vec::new();
        for (parent, pg, pd) in level {
            let k = 1 + rng.below(if depth == 2 { 4 } else { 3 }) as usize;
            for (j, q) in child_quotas(&mut rng, k, pg, pd).into_iter().enumerate() {
                let name = format!("{}{}", parent.clone().unwrap_or_default(), j);
                let (g, d) = (
                    q.guaranteed.get(Resource::Gpus),
                    q.deserved.get(Resource::Gpus),
                );
                p.add_tenant(TenantSpec::new(&name, parent.as_deref(), q))
                    .unwrap();
                nodes.push(name.clone());
                if depth == 2 {
                    leaves.push(name.clone());
                }
                next.push((Some(name), g, d));
            }
        }
        level = next;
    }
    World {
        p,
        leaves,
        nodes,
        rng,
    }
}

fn cfg() -> PolicyConfig {
    PolicyConfig {
        min_runtime_s: 0.0,
        ..PolicyConfig::default()
    }
}

fn parent_of(w: &World, n: &str) -> Option<String> {
    w.p.tenant(n).unwrap().parent.clone()
}

fn approx_le(a: f64, b: f64) -> bool {
    a <= b + 1e-9 * b.abs().max(1.0)
}

fn random_demands(w: &mut World) {
    for l in w.leaves.clone() {
        let d = w.rng.below(30) as f64 / 2.0;
        w.p.set_demand(&l, res(d)).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Shares sum to at most the parent's (capacity at the top), each at most its demand and
    /// limit, each at least min(demand, guaranteed).
    #[test]
    fn fair_shares_respect_capacity_demand_limit_and_guarantee(seed in any::<u64>()) {
        let mut w = world(seed, cfg());
        random_demands(&mut w);
        let shares = w.p.full_fair_shares();
        let mut child_sum: BTreeMap<Option<String>, Resources> = BTreeMap::new();
        for n in &w.nodes {
            let s = shares[n];
            let e = w.p.explain(n, 0.0).unwrap();
            prop_assert!(s.le(&e.demand), "{n}: share {s:?} > demand {:?}", e.demand);
            prop_assert!(s.le(&e.limit.as_resources()), "{n}: over limit");
            prop_assert!(e.demand.min(e.guaranteed).le(&s), "{n}: {s:?} under guarantee");
            let acc = child_sum.entry(parent_of(&w, n)).or_default();
            *acc = acc.plus(s);
        }
        for (parent, sum) in child_sum {
            let cap = parent.map_or(w.p.capacity(), |p| shares[&p]);
            for r in Resource::ALL {
                prop_assert!(approx_le(sum.get(r), cap.get(r)), "children sum over parent");
            }
        }
    }

    /// After random demand and usage changes, lazily resolved (incremental) shares equal a
    /// recomputation from scratch, bit for bit.
    #[test]
    fn incremental_equals_full_recomputation(seed in any::<u64>(), ops in prop::collection::vec((0u8..4, any::<u16>(), 0u16..40), 1..40)) {
        let mut w = world(seed, cfg());
        random_demands(&mut w);
        w.p.refresh_fair_shares();
        let mut t = 0.0;
        for (kind, who, amount) in ops {
            let leaf = w.leaves[who as usize % w.leaves.len()].clone();
            t += f64::from(amount) * 600.0;
            match kind {
                0 => w.p.set_demand(&leaf, res(f64::from(amount) / 2.0)).unwrap(),
                1 => w.p.charge_usage(&leaf, res(f64::from(amount)), t).unwrap(),
                2 => { w.p.resolve_fair_share(&leaf).unwrap(); }
                _ => w.p.refresh_fair_shares(),
            }
            let leaf2 = w.leaves[(who as usize / 7) % w.leaves.len()].clone();
            let lazy = w.p.fair_share(&leaf2).unwrap();
            let resolved = w.p.resolve_fair_share(&leaf2).unwrap();
            prop_assert_eq!(lazy, resolved);
            prop_assert_eq!(resolved, w.p.full_fair_shares()[&leaf2]);
        }
        let full = w.p.full_fair_shares();
        for n in &w.nodes {
            prop_assert_eq!(w.p.fair_share(n).unwrap(), full[n], "lazy {}", n);
        }
        w.p.refresh_fair_shares();
        for n in &w.nodes {
            prop_assert_eq!(w.p.fair_share(n).unwrap(), full[n], "refreshed {}", n);
        }
    }

    /// Every plan obeys each law, checked independently of the engine's own predicates.
    #[test]
    fn reclaim_plans_obey_every_law(seed in any::<u64>(), arrivals in 5usize..40) {
        random_plans(seed, arrivals)?;
    }

    /// Random preemption sequences: no two workloads ever preempt each other back and forth.
    #[test]
    fn no_preemption_loops(seed in any::<u64>(), steps in 10usize..80) {
        preemption_sequence(seed, steps)?;
    }

    /// Decayed usage over simulated days equals sum_i x_i * 2^(-(t - t_i) / half_life).
    #[test]
    fn decayed_usage_matches_the_half_life_formula(charges in prop::collection::vec((0u32..86_400 * 30, 1u32..1000), 1..30), half_life_h in 1u32..240) {
        let h = f64::from(half_life_h) * 3600.0;
        let mut w = world(1, PolicyConfig { half_life_s: h, ..cfg() });
        let leaf = w.leaves[0].clone();
        let mut charges = charges;
        charges.sort();
        for &(t, x) in &charges {
            w.p.charge_usage(&leaf, Resources::gpus(f64::from(x)), f64::from(t)).unwrap();
        }
        for day in 30..40 {
            let t = f64::from(day) * 86_400.0;
            let want: f64 = charges.iter().map(|&(ti, x)| f64::from(x) * (-(t - f64::from(ti)) / h).exp2()).sum();
            let got = w.p.usage(&leaf, t).unwrap().get(Resource::Gpus);
            prop_assert!((got - want).abs() <= 1e-9 * want.max(1e-300), "day {day}: {got} vs {want}");
            let root = w.p.usage(&w.nodes[0], t).unwrap().get(Resource::Gpus);
            prop_assert!(approx_le(got, root * (1.0 + 1e-12)));
        }
    }
}

const CLASSES: [&str; 3] = ["default", "mid", "critical"];

fn random_request(w: &mut World, id: &str) -> AdmissionRequest {
    let leaf = w.leaves[w.rng.below(w.leaves.len() as u64) as usize].clone();
    let n = 0.5 * (1 + w.rng.below(8)) as f64;
    let mut r = AdmissionRequest::new(id, leaf, res(n));
    r.class = CLASSES[w.rng.below(2) as usize].into();
    r
}

/// Admits random arrivals at times 0..arrivals.
fn fill(w: &mut World, arrivals: usize) {
    for k in 0..arrivals {
        let mut r = random_request(w, &format!("w{k}"));
        r.class = CLASSES[w.rng.below(3) as usize].into();
        let d = w.p.admit(&r, k as f64).unwrap();
        if d.reason == Reason::QueuedQuota {
            w.p.cancel(&r.id).unwrap();
        }
    }
}

fn prio(c: &str) -> i32 {
    match c {
        "mid" => 5,
        "critical" => 1000,
        _ => 0,
    }
}

fn ancestors(w: &World, leaf: &str) -> Vec<String> {
    let mut out = vec![leaf.to_owned()];
    while let Some(p) = parent_of(w, out.last().unwrap()) {
        out.push(p);
    }
    out
}

fn check_plan(
    w: &World,
    pre: &AdmissionRequest,
    victims: &[String],
    running: &[Running],
    now: f64,
) -> Result<(), TestCaseError> {
    let by_id: BTreeMap<&str, &Running> = running.iter().map(|r| (r.id.as_str(), r)).collect();
    let mine: BTreeSet<String> = ancestors(w, &pre.tenant).into_iter().collect();
    let mut evicted: BTreeMap<String, Resources> = BTreeMap::new();
    let mut mem = 0.0;
    for id in victims {
        let v = by_id[id.as_str()];
        prop_assert!(v.class != "critical", "non-preemptible victim");
        prop_assert!(now - v.start >= 30.0, "fresh victim");
        let (pp, vp) = (prio(&pre.class), prio(&v.class));
        prop_assert!(
            vp <= pp && (vp < pp || v.tenant != pre.tenant),
            "priority law"
        );
        if vp == pp {
            let e = w.p.explain(&pre.tenant, now).unwrap();
            prop_assert!(
                e.allocated.plus(pre.resources).le(&e.deserved),
                "equal priority beyond own deserved"
            );
        }
        mem += v.resources.get(Resource::MemoryMib);
        for a in ancestors(w, &v.tenant) {
            let e = evicted.entry(a).or_default();
            *e = e.plus(v.resources);
        }
    }
    prop_assert!(
        approx_le(mem, 2.0 * pre.resources.get(Resource::MemoryMib)),
        "collateral"
    );
    for (n, ev) in evicted {
        if mine.contains(&n) {
            continue;
        }
        let e = w.p.explain(&n, now).unwrap();
        let after = e.allocated.minus(ev);
        prop_assert!(
            e.allocated.min(e.guaranteed).le(&after),
            "{n} pushed below its guarantee"
        );
    }
    Ok(())
}

/// Random preemptors against a random running set; checks each plan; returns the plans found.
fn random_plans(seed: u64, arrivals: usize) -> Result<usize, TestCaseError> {
    let mut w = world(
        seed,
        PolicyConfig {
            min_runtime_s: 30.0,
            ..PolicyConfig::default()
        },
    );
    fill(&mut w, arrivals);
    let now = 100.0;
    let running: Vec<Running> = w.p.running_all().cloned().collect();
    let mut found = 0;
    for k in 0..10 {
        let pre = random_request(&mut w, &format!("p{k}"));
        let Ok(plan) = w.p.reclaim_plan(&pre, &running, now) else {
            continue;
        };
        check_plan(&w, &pre, &plan.victims, &running, now)?;
        prop_assert!(plan.needed.le(&plan.freed));
        found += 1;
    }
    Ok(found)
}

/// Applies random preemptions (evicted work comes back as a preemptor); fails if two
/// workloads preempt each other; returns the number of preemptions.
fn preemption_sequence(seed: u64, steps: usize) -> Result<usize, TestCaseError> {
    let mut w = world(seed, cfg());
    fill(&mut w, 30);
    let mut pending: Vec<AdmissionRequest> = (0..20)
        .map(|k| random_request(&mut w, &format!("n{k}")))
        .collect();
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    let mut t = 1.0;
    for _ in 0..steps {
        if pending.is_empty() {
            break;
        }
        let i = w.rng.below(pending.len() as u64) as usize;
        let pre = pending.swap_remove(i);
        t += 1.0;
        let running: Vec<Running> = w.p.running_all().cloned().collect();
        if let Ok(plan) = w.p.reclaim_plan(&pre, &running, t) {
            for v in &plan.victims {
                prop_assert!(
                    !pairs.contains(&(v.clone(), pre.id.clone())),
                    "{} and {} preempt each other",
                    v,
                    pre.id
                );
                pairs.insert((pre.id.clone(), v.clone()));
                let r = w.p.release(v, t).unwrap();
                let mut back = AdmissionRequest::new(r.id, r.tenant, r.resources);
                back.class = r.class;
                pending.push(back);
            }
        }
        let d = w.p.admit(&pre, t).unwrap();
        if d.reason == Reason::QueuedQuota {
            w.p.cancel(&pre.id).unwrap();
        }
    }
    Ok(pairs.len())
}

/// The properties above are not vacuous: plans are found and preemptions happen.
#[test]
fn random_worlds_do_preempt() {
    let plans: usize = (0..40).map(|s| random_plans(s, 35).unwrap()).sum();
    let preemptions: usize = (0..40).map(|s| preemption_sequence(s, 60).unwrap()).sum();
    eprintln!("plans {plans}, preemptions {preemptions}");
    assert!(plans > 20, "{plans}");
    assert!(preemptions > 20, "{preemptions}");
}
