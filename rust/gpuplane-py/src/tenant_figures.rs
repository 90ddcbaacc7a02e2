//! `gpuplane.TenantFigures`: a tenant's placements and its standing in the policy engine
//! (`Cluster.tenant_figures`).

use std::collections::BTreeMap;

use gpuplane_core::placement::TenantFigures;
use pyo3::prelude::*;

use crate::policy_values::{amounts_repr, res_dict};
use crate::values::{q, repr};

/// What a tenant holds on the cluster and where it stands in the attached policy engine.
#[pyclass(frozen, module = "gpuplane", name = "TenantFigures")]
pub struct PyTenantFigures {
    pub inner: TenantFigures,
}

#[pymethods]
impl PyTenantFigures {
    #[getter]
    fn tenant(&self) -> &str {
        &self.inner.tenant
    }
    #[getter]
    fn placed_workloads(&self) -> u32 {
        self.inner.placed_workloads
    }
    #[getter]
    fn placed_gpus(&self) -> u64 {
        self.inner.placed_gpus
    }
    #[getter]
    fn placed_memory_mib(&self) -> u64 {
        self.inner.placed_memory_mib
    }
    #[getter]
    fn admitted(&self) -> u32 {
        self.inner.admitted
    }
    #[getter]
    fn queued(&self) -> u32 {
        self.inner.queued
    }
    #[getter]
    fn allocated(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.allocated)
    }
    #[getter]
    fn usage(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.usage)
    }
    #[getter]
    fn fair_share(&self) -> BTreeMap<&'static str, f64> {
        res_dict(&self.inner.fair_share)
    }
    #[getter]
    fn dominant_share(&self) -> f64 {
        self.inner.dominant_share
    }

    fn __repr__(&self) -> String {
        let f = &self.inner;
        repr(
            "TenantFigures",
            &[
                ("tenant", q(&f.tenant)),
                ("placed_workloads", f.placed_workloads.to_string()),
                ("placed_gpus", f.placed_gpus.to_string()),
                ("placed_memory_mib", f.placed_memory_mib.to_string()),
                ("admitted", f.admitted.to_string()),
                ("queued", f.queued.to_string()),
                ("allocated", amounts_repr(&f.allocated)),
                ("usage", amounts_repr(&f.usage)),
                ("fair_share", amounts_repr(&f.fair_share)),
                ("dominant_share", format!("{:.4}", f.dominant_share)),
            ],
        )
    }
}
