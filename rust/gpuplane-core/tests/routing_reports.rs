//! Load accounting under reordered reports: a replica's unreported blocks are exactly the
//! prompt blocks of the dispatches to it after the newest report applied there (by the last
//! dispatch each report reflects), whatever order reports arrive in; an older report changes
//! nothing. So no dispatch counts twice (in a report and as unreported) or drops out (cleared
//! by a report that did not include it).

use gpuplane_core::routing::{Counts, Load, ReplicaSpec, RouteRequest, Router};
use proptest::prelude::*;

const REPLICAS: usize = 3;

#[derive(Debug, Clone)]
enum Event {
    /// A request of `blocks` prompt blocks is dispatched (the router picks the replica).
    Dispatch { blocks: u32 },
    /// Replica `replica` takes a report now (it reaches the router later).
    Take { replica: usize },
    /// One report in transit (by `pick`) arrives, as a full load or as counts.
    Deliver { pick: usize, full: bool },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (1..20u32).prop_map(|blocks| Event::Dispatch { blocks }),
        2 => (0..REPLICAS).prop_map(|replica| Event::Take { replica }),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(pick, full)| Event::Deliver { pick, full }),
    ]
}

fn id(r: usize) -> String {
    format!("r{r}")
}

/// What the router should show, from the events alone.
#[derive(Default)]
struct Model {
    /// `(dispatch, replica, blocks)` of every dispatch.
    dispatched: Vec<(u64, usize, u32)>,
    /// Per replica: the newest report applied (`reflects`, its marker).
    applied: [(u64, u32); REPLICAS],
}

impl Model {
    fn unreported(&self, r: usize) -> u32 {
        let after = self.applied[r].0;
        let mine = self.dispatched.iter().filter(|d| d.1 == r && d.0 > after);
        mine.map(|d| d.2).sum()
    }
}

/// A report taken by replica `replica` reflecting dispatches up to `reflects`, told apart by
/// `marker` (sent as its waiting count).
#[derive(Debug, Clone, Copy)]
struct Report {
    replica: usize,
    reflects: u64,
    marker: u32,
}

fn deliver(router: &mut Router, m: &Report, full: bool) {
    let reflects_dispatch = Some(m.reflects);
    let (rid, waiting) = (id(m.replica), m.marker);
    if full {
        let load = Load {
            waiting,
            reflects_dispatch,
            ..Load::default()
        };
        router.report_load(&rid, load).unwrap();
    } else {
        let counts = Counts {
            waiting,
            reflects_dispatch,
            ..Counts::default()
        };
        router.report_counts(&rid, counts).unwrap();
    }
}

fn router() -> Router {
    let mut router = Router::new();
    for r in 0..REPLICAS {
        let spec = ReplicaSpec {
            id: id(r),
            kv_blocks: 1_000,
            max_running: 1_000,
            ..ReplicaSpec::default()
        };
        router.register(spec).unwrap();
    }
    router
}

fn run(events: &[Event]) -> Result<(), TestCaseError> {
    let mut router = router();
    let (mut model, mut transit, mut marker) = (Model::default(), Vec::<Report>::new(), 0);
    for e in events {
        match *e {
            Event::Dispatch { blocks } => {
                let req = RouteRequest {
                    prompt_tokens: blocks * 16,
                    ..RouteRequest::default()
                };
                let route = router.dispatch(&req).unwrap();
                let r: usize = route.replica_id[1..].parse().unwrap();
                prop_assert_eq!(route.dispatch, model.dispatched.len() as u64 + 1);
                model.dispatched.push((route.dispatch, r, blocks));
            }
            Event::Take { replica } => {
                marker += 1;
                let reflects = router.last_dispatch();
                transit.push(Report {
                    replica,
                    reflects,
                    marker,
                });
            }
            Event::Deliver { pick, full } if !transit.is_empty() => {
                let m = transit.remove(pick % transit.len());
                deliver(&mut router, &m, full);
                if m.reflects >= model.applied[m.replica].0 {
                    model.applied[m.replica] = (m.reflects, m.marker);
                }
            }
            Event::Deliver { .. } => {}
        }
        for r in 0..REPLICAS {
            let s = router.replica(&id(r)).unwrap();
            prop_assert_eq!(s.unreported_blocks, model.unreported(r), "replica {}", r);
            prop_assert_eq!(s.load.waiting, model.applied[r].1, "replica {}", r);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn reordered_reports_never_double_count_or_drop_a_dispatch(
        events in prop::collection::vec(event(), 1..120)
    ) {
        run(&events)?;
    }
}

#[test]
fn a_report_without_a_dispatch_number_clears_every_dispatch() {
    let mut router = router();
    let req = RouteRequest {
        prompt_tokens: 160,
        ..RouteRequest::default()
    };
    let to = router.dispatch(&req).unwrap().replica_id;
    router.dispatch(&req).unwrap();
    router.report_load(&to, Load::default()).unwrap();
    assert_eq!(router.replica(&to).unwrap().unreported_blocks, 0);
}

#[test]
fn a_report_of_a_dispatch_not_made_is_refused() {
    let mut router = router();
    let load = Load {
        reflects_dispatch: Some(1),
        ..Load::default()
    };
    let e = router.report_load("r0", load).unwrap_err();
    assert!(e.to_string().contains("reflects_dispatch"), "{e}");
}
