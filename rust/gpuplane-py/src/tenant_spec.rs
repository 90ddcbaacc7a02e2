//! The tenant spec of `Policy.add_tenant` and `Policy.update_tenant`, built from their
//! arguments in one place: a name, a parent, a `Quota` or its parts as keywords, and the
//! tenant's own keywords.

use gpuplane_core::policy::{Quota, TenantSpec};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{invalid, unsigned32};
use crate::policy_values::{PyQuota, QuotaParts};

/// The keywords `add_tenant` and `update_tenant` take after `name, parent, quota`.
#[derive(Default)]
struct Keywords {
    quota: QuotaParts,
    max_queued: Option<i64>,
    budget: Option<f64>,
    burst_tokens: Option<f64>,
}

impl Keywords {
    /// Reads `kwargs` as the Python method `method` would (`TypeError` for an unknown
    /// keyword or a value of the wrong type, naming it); a keyword given as None is omitted.
    fn read(method: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut out = Keywords::default();
        for (key, value) in kwargs.into_iter().flatten() {
            let key: String = key.extract()?;
            let known = out
                .set(&key, &value)
                .map_err(|e| PyTypeError::new_err(format!("{method}() argument '{key}': {e}")))?;
            if !known {
                let why = format!("{method}() got an unexpected keyword argument '{key}'");
                return Err(PyTypeError::new_err(why));
            }
        }
        Ok(out)
    }

    /// Sets keyword `key`; false when there is no such keyword.
    fn set(&mut self, key: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
        let q = &mut self.quota;
        match key {
            "guaranteed" => q.guaranteed = v.extract()?,
            "deserved" => q.deserved = v.extract()?,
            "limit" => q.limit = v.extract()?,
            "over_quota_priority" => q.over_quota_priority = v.extract()?,
            "over_quota_weight" => q.over_quota_weight = v.extract()?,
            "models" => q.models = v.extract()?,
            "max_queued" => self.max_queued = v.extract()?,
            "budget" => self.budget = v.extract()?,
            "burst_tokens" => self.burst_tokens = v.extract()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The spec of tenant `name` (for `method`, which names itself in errors): its quota is
/// `quota` or the quota keywords, never both.
pub fn tenant_spec(
    method: &str,
    name: String,
    parent: Option<String>,
    quota: Option<PyQuota>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<TenantSpec> {
    let kw = Keywords::read(method, kwargs)?;
    Ok(TenantSpec {
        name,
        parent,
        quota: quota_of(quota, kw.quota)?,
        max_queued: kw
            .max_queued
            .map(|v| unsigned32("max_queued", v))
            .transpose()?,
        budget: kw.budget,
        burst_tokens: kw.burst_tokens,
    })
}

fn quota_of(quota: Option<PyQuota>, parts: QuotaParts) -> PyResult<Quota> {
    match quota {
        Some(_) if parts.given() => Err(invalid(
            "quota",
            "give a Quota or its parts as keywords, not both",
        )),
        Some(q) => Ok(q.inner),
        None => parts.build(),
    }
}
