//! The fleet-wide fair-share bound of `gpuplane_core::routing::FleetShare` (stated in its
//! module docs): N replicas each charge the backlogged tenant with the lowest counter they last
//! read, at most `A` weighted tokens per charge; any two backlogged tenants' counters then differ
//! by at most `N x A / min weight`, under every interleaving of charges, finishes and returns.

use gpuplane_core::routing::FleetShare;
use proptest::prelude::*;

/// One event: replica `replica` charges `amount` (a share of `A`) to the tenant it chose, then
/// reads again; or a tenant's backlog ends or begins again.
#[derive(Debug, Clone)]
enum Event {
    Charge { replica: usize, share: f64 },
    Toggle { tenant: usize },
}

fn event(replicas: usize, tenants: usize) -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (0..replicas, 0.0..=1.0f64).prop_map(|(replica, share)| Event::Charge { replica, share }),
        1 => (0..tenants).prop_map(|tenant| Event::Toggle { tenant }),
    ]
}

/// The backlogged account with the lowest counter (ties: lowest index), as a scheduler reads.
fn lowest(f: &FleetShare, accounts: &[u32]) -> Option<u32> {
    accounts
        .iter()
        .copied()
        .filter(|&a| f.backlogged(a))
        .min_by(|&a, &b| f.counter(a).total_cmp(&f.counter(b)).then(a.cmp(&b)))
}

fn run(replicas: usize, weights: &[f64], events: &[Event]) -> Result<(), TestCaseError> {
    const A: f64 = 4096.0;
    let mut f = FleetShare::new();
    let accounts: Vec<u32> = (0..weights.len())
        .map(|i| {
            let name = format!("t{i}");
            f.set_weight(&name, weights[i]).unwrap();
            let a = f.account(&name);
            f.begin(a);
            a
        })
        .collect();
    let bound = replicas as f64 * A / weights.iter().copied().fold(f64::INFINITY, f64::min);
    let mut chosen: Vec<Option<u32>> = vec![lowest(&f, &accounts); replicas];
    for e in events {
        match *e {
            Event::Charge { replica, share } => {
                if let Some(a) = chosen[replica] {
                    f.charge(a, share * A);
                }
                chosen[replica] = lowest(&f, &accounts);
            }
            Event::Toggle { tenant } => {
                let a = accounts[tenant];
                if f.backlogged(a) {
                    f.end(a);
                    for c in chosen.iter_mut().filter(|c| **c == Some(a)) {
                        *c = lowest(&f, &accounts);
                    }
                } else {
                    f.begin(a);
                }
            }
        }
        let spread = f.backlogged_spread();
        prop_assert!(spread <= bound + 1e-6, "spread {spread} > bound {bound}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn backlogged_counters_stay_within_n_charges(
        replicas in 1usize..=16,
        weights in prop::collection::vec(0.25f64..4.0, 2..6),
        seed_events in prop::collection::vec(event(16, 6), 1..400),
    ) {
        let events: Vec<Event> = seed_events
            .into_iter()
            .map(|e| match e {
                Event::Charge { replica, share } => Event::Charge { replica: replica % replicas, share },
                Event::Toggle { tenant } => Event::Toggle { tenant: tenant % weights.len() },
            })
            .collect();
        run(replicas, &weights, &events)?;
    }
}

#[test]
fn the_bound_is_reached_by_stale_reads() {
    // Four replicas read tenant 0 at once; each charges it A: spread exactly 4 A.
    let mut f = FleetShare::new();
    let (a, b) = (f.account("a"), f.account("b"));
    f.begin(a);
    f.begin(b);
    for _ in 0..4 {
        f.charge(a, 4096.0);
    }
    assert_eq!(f.backlogged_spread(), 4.0 * 4096.0);
}

/// Charges to any backlogged tenant, not only the lowest: a tenant stranded on a replica that
/// cannot admit it is backlogged but not served while the others are.
fn stranded(lag: Option<f64>, events: &[(usize, f64, bool)]) -> Result<f64, TestCaseError> {
    let mut f = FleetShare::new();
    f.set_max_lag(lag).unwrap();
    let accounts: Vec<u32> = (0..3)
        .map(|i| {
            let a = f.account(&format!("t{i}"));
            f.begin(a);
            a
        })
        .collect();
    let mut widest = 0.0f64;
    for &(tenant, amount, toggle) in events {
        let a = accounts[tenant];
        match (toggle, f.backlogged(a)) {
            (true, true) => f.end(a),
            (true, false) => f.begin(a),
            (false, _) => f.charge(a, amount),
        }
        widest = widest.max(f.backlogged_spread());
        if let Some(l) = lag {
            prop_assert!(
                f.backlogged_spread() <= l + 1e-6,
                "spread {} > lag {l}",
                f.backlogged_spread()
            );
        }
    }
    Ok(widest)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_backlogged_counter_lags_more_than_the_maximum_lag(
        lag in 1.0f64..10_000.0,
        events in prop::collection::vec((0usize..3, 0.0f64..4096.0, prop::bool::weighted(0.1)), 1..300),
    ) {
        stranded(Some(lag), &events)?;
    }
}

#[test]
fn without_a_maximum_lag_a_stranded_tenant_banks_without_bound() {
    // Tenant 0 is charged 100 times while tenants 1 and 2 stay backlogged and unserved.
    let events: Vec<(usize, f64, bool)> = (0..100).map(|_| (0, 4096.0, false)).collect();
    assert_eq!(stranded(None, &events).unwrap(), 100.0 * 4096.0);
    assert_eq!(stranded(Some(8192.0), &events).unwrap(), 8192.0);
    let mut f = FleetShare::new();
    assert!(f.set_max_lag(Some(0.0)).is_err());
    assert!(f.set_max_lag(Some(f64::NAN)).is_err());
}
