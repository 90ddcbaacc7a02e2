//! Agent programs at admission: the order of a program's calls is checked, completion and its
//! split are measured, a refused or cancelled call aborts its program, and a program in flight
//! survives a snapshot.

use gpuplane_core::policy::{
    AdmissionRequest, Policy, PolicyConfig, ProgramCall, Quota, Reason, Resources, TenantSpec,
};
use gpuplane_core::Error;

fn policy() -> Policy {
    let mut p = Policy::new(PolicyConfig::default()).unwrap();
    p.set_capacity(Resources::new(8.0, 8000.0, 1e6, 1e6))
        .unwrap();
    p.add_tenant(TenantSpec::new("a", None, Quota::default()))
        .unwrap();
    p
}

fn call(id: &str, wf: &str, k: u32, gpus: f64) -> AdmissionRequest {
    let mut r = AdmissionRequest::new(id, "a", Resources::gpus(gpus));
    r.program = Some(ProgramCall {
        workflow: wf.into(),
        call_index: k,
    });
    r
}

fn field(e: Error) -> String {
    match e {
        Error::InvalidRequest { field, .. } => field,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

#[test]
fn calls_come_in_order_and_the_program_completes_on_the_last() {
    let mut p = policy();
    assert_eq!(
        p.admit(&call("r0", "w", 0, 1.0), 0.0).unwrap().reason,
        Reason::Admitted
    );
    let e = p.admit(&call("r1", "w", 1, 1.0), 1.0).unwrap_err();
    assert_eq!(field(e), "program.call_index", "call 0 still running");
    p.release_call("r0", 2.0, true).unwrap();
    assert_eq!(
        field(p.admit(&call("r1", "w", 2, 1.0), 3.0).unwrap_err()),
        "program.call_index"
    );
    p.admit(&call("r1", "w", 1, 1.0), 5.0).unwrap();
    p.release_call("r1", 6.0, false).unwrap();
    let [f] = p.program_figures().try_into().unwrap();
    assert_eq!((f.completed, f.calls, f.active), (1, 2, 0));
    assert_eq!(
        (f.completion_s_sum, f.running_s_sum, f.tool_s_sum),
        (6.0, 3.0, 3.0)
    );
}

#[test]
fn refused_and_cancelled_calls_abort_their_programs() {
    let mut p = policy();
    let rejected = p.admit(&call("r0", "w", 0, 99.0), 0.0).unwrap();
    assert_eq!(rejected.reason, Reason::RejectedLimit);
    assert_eq!(rejected.ended_program.as_deref(), Some("w"));
    let admitted = p.admit(&call("q0", "v", 0, 1.0), 0.0).unwrap();
    assert_eq!(admitted.ended_program, None);
    p.release_call("q0", 1.0, true).unwrap();
    let other = AdmissionRequest::new("x", "a", Resources::gpus(8.0));
    p.admit(&other, 1.0).unwrap();
    assert_eq!(
        p.admit(&call("q1", "v", 1, 1.0), 2.0).unwrap().reason,
        Reason::QueuedQuota
    );
    p.cancel("q1").unwrap();
    let [f] = p.program_figures().try_into().unwrap();
    assert_eq!((f.aborted, f.active, f.completed), (2, 0, 0));
}

#[test]
fn a_program_in_flight_survives_a_snapshot() {
    let mut p = policy();
    p.admit(&call("r0", "w", 0, 1.0), 0.0).unwrap();
    p.release_call("r0", 1.0, true).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    let mut back: Policy = serde_json::from_str(&json).unwrap();
    back.admit(&call("r1", "w", 1, 1.0), 2.0).unwrap();
    back.release_call("r1", 3.0, false).unwrap();
    assert_eq!(back.program_figures()[0].completed, 1);
}

#[test]
fn a_damaged_program_ledger_is_refused_on_restore() {
    let mut p = policy();
    p.admit(&call("r0", "w", 0, 1.0), 0.0).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    let damaged = json.replace(
        r#""by_request":{"r0":"w"}"#,
        r#""by_request":{"r0":"nope"}"#,
    );
    assert_ne!(damaged, json);
    let e = serde_json::from_str::<Policy>(&damaged)
        .unwrap_err()
        .to_string();
    assert!(e.contains("programs"), "{e}");
}

#[test]
fn finish_says_which_program_it_ended() {
    let mut p = policy();
    p.admit(&call("r0", "w", 0, 1.0), 0.0).unwrap();
    let going_on = p.finish("r0", 1.0, true).unwrap();
    assert_eq!((going_on.was_running, going_on.ended_program), (true, None));
    p.admit(&call("r1", "w", 1, 1.0), 2.0).unwrap();
    let last = p.finish("r1", 3.0, false).unwrap();
    assert_eq!(last.ended_program.as_deref(), Some("w"));
    // A queued call finished is cancelled: its program is aborted, more calls or not.
    p.admit(&AdmissionRequest::new("x", "a", Resources::gpus(8.0)), 3.0)
        .unwrap();
    p.admit(&call("q0", "v", 0, 1.0), 4.0).unwrap();
    let cancelled = p.finish("q0", 5.0, true).unwrap();
    assert!(!cancelled.was_running);
    assert_eq!(cancelled.ended_program.as_deref(), Some("v"));
    // Plain work ends no program; an unknown id is NotFound.
    assert_eq!(p.finish("x", 6.0, false).unwrap().ended_program, None);
    assert!(matches!(
        p.finish("x", 7.0, false),
        Err(Error::NotFound { .. })
    ));
}
