//! `gpuplane.TenantFigures`: a tenant's placements and its standing in the policy engine
//! (`Cluster.tenant_figures`).

use gpuplane_core::placement::TenantFigures;
use pyo3::prelude::*;

use crate::amounts::Amounts;
use crate::repr::{Ratio, Repr};

/// What a tenant holds on the cluster and where it stands in the attached policy engine.
#[pyclass(frozen, get_all, module = "gpuplane", name = "TenantFigures")]
pub struct PyTenantFigures {
    tenant: String,
    placed_workloads: u32,
    placed_gpus: u64,
    placed_memory_mib: u64,
    admitted: u32,
    queued: u32,
    allocated: Amounts,
    usage: Amounts,
    fair_share: Amounts,
    dominant_share: f64,
}

impl From<TenantFigures> for PyTenantFigures {
    fn from(f: TenantFigures) -> Self {
        PyTenantFigures {
            tenant: f.tenant,
            placed_workloads: f.placed_workloads,
            placed_gpus: f.placed_gpus,
            placed_memory_mib: f.placed_memory_mib,
            admitted: f.admitted,
            queued: f.queued,
            allocated: Amounts(f.allocated),
            usage: Amounts(f.usage),
            fair_share: Amounts(f.fair_share),
            dominant_share: f.dominant_share,
        }
    }
}

#[pymethods]
impl PyTenantFigures {
    fn __repr__(&self) -> String {
        Repr::new("TenantFigures")
            .field("tenant", &self.tenant)
            .field("placed_workloads", self.placed_workloads)
            .field("placed_gpus", self.placed_gpus)
            .field("placed_memory_mib", self.placed_memory_mib)
            .field("admitted", self.admitted)
            .field("queued", self.queued)
            .field("allocated", self.allocated)
            .field("usage", self.usage)
            .field("fair_share", self.fair_share)
            .field("dominant_share", Ratio(self.dominant_share))
            .finish()
    }
}
