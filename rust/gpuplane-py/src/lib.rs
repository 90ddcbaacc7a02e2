//! `gpuplane._core`: the thin PyO3 binding of `gpuplane-core`. It converts types and errors
//! and releases the GIL around core calls; it holds no scheduling logic.

mod amounts;
mod batching;
mod batching_bulk;
mod batching_plan;
mod batching_values;
mod bulk;
mod cluster;
mod columns;
mod errors;
mod locked;
mod names;
mod policy;
mod policy_values;
mod prefix;
mod program_figures;
mod program_id;
mod repr;
mod routing;
mod sim;
mod stats;
mod tenant_figures;
mod tenant_spec;
mod values;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "SNAPSHOT_VERSION",
        gpuplane_core::placement::SNAPSHOT_VERSION,
    )?;
    m.add(
        "POLICIES",
        gpuplane_core::placement::PolicyKind::ALL
            .map(|p| p.name())
            .to_vec(),
    )?;
    m.add_class::<cluster::PyCluster>()?;
    m.add_function(wrap_pyfunction!(cluster::check_policy, m)?)?;
    m.add_class::<values::PyGpuSpec>()?;
    m.add_class::<values::PyWorkload>()?;
    m.add_class::<values::PyPlacement>()?;
    m.add_class::<values::PyPreemptionPlan>()?;
    m.add_class::<stats::PyClusterStats>()?;
    m.add_class::<stats::PyGpuStats>()?;
    m.add_class::<stats::PyTotals>()?;
    m.add(
        "ROUTING_POLICIES",
        gpuplane_core::routing::RoutingPolicy::ALL
            .map(|(name, _)| name)
            .to_vec(),
    )?;
    m.add_class::<routing::PyRouter>()?;
    m.add_class::<routing::PyRoute>()?;
    m.add_class::<routing::PyReplicaStatus>()?;
    sim::register(m)?;
    prefix::register(m)?;
    names::register(m)?;
    program_id::register(m)?;
    add_batching(m)?;
    add_policy(m)
}

fn add_policy(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<policy::PyPolicy>()?;
    m.add_class::<policy_values::PyPolicyConfig>()?;
    m.add_class::<policy_values::PyQuota>()?;
    m.add_class::<policy_values::PyPriorityClass>()?;
    m.add_class::<policy_values::PyTenant>()?;
    m.add_class::<policy_values::PyAdmissionDecision>()?;
    m.add_class::<policy_values::PyFinished>()?;
    m.add_class::<policy_values::PyExplanation>()?;
    m.add_class::<tenant_figures::PyTenantFigures>()?;
    m.add_class::<program_figures::PyProgramFigures>()?;
    m.add("PROGRAM_COMPLETION_BUCKETS_S", program_figures::buckets())?;
    Ok(())
}

fn add_batching(m: &Bound<'_, PyModule>) -> PyResult<()> {
    use gpuplane_core::batching::Policy;
    m.add("BATCH_POLICIES", Policy::ALL.map(|p| p.name()).to_vec())?;
    m.add_class::<batching::PyBatchScheduler>()?;
    m.add_class::<batching_plan::PyStepPlan>()?;
    m.add_class::<batching_values::PyBatchConfig>()?;
    m.add_class::<batching_values::PyRequest>()?;
    m.add_class::<batching_values::PyFinishedRequest>()?;
    m.add_class::<batching_values::PyRequestProgress>()?;
    m.add_class::<batching_values::PyTenantMetrics>()?;
    m.add_class::<batching_values::PyBatchMetrics>()?;
    Ok(())
}
