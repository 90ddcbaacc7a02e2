//! Quotas of one tree node: guaranteed, deserved and limit per resource, the over-quota
//! priority and weight, and optional per-GPU-model GPU quotas.
//!
//! * `guaranteed` is never lent: capacity a node guarantees but does not use is held back, not
//!   shared as surplus, and non-preemptible work runs only inside it.
//! * `deserved` (>= guaranteed) is the node's share when everyone is busy; the part above its
//!   demand is lent to siblings and reclaimed when its demand returns.
//! * `limit` (>= deserved) is a hard cap on what the node's subtree may hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::resources::{approx_le, non_negative, Limits, Resource, Resources};
use crate::error::{Error, Result};

/// A per-GPU-model quota, in GPUs of that model.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelQuota {
    /// GPUs of the model never lent.
    pub guaranteed: f64,
    /// Hard cap on GPUs of the model, `None` for none.
    pub limit: Option<f64>,
}

/// The quota of one tree node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    /// Never lent; bounds non-preemptible work.
    pub guaranteed: Resources,
    /// Lendable and reclaimable share (>= guaranteed).
    pub deserved: Resources,
    /// Hard caps (>= deserved).
    pub limit: Limits,
    /// Surplus goes to higher over-quota priorities first.
    pub over_quota_priority: i32,
    /// Share of the surplus within one over-quota priority (finite, >= 0; 0 takes none).
    pub over_quota_weight: f64,
    /// Optional per-GPU-model quotas, by model name.
    pub models: BTreeMap<String, ModelQuota>,
}

impl Default for Quota {
    /// Nothing guaranteed or deserved, no limit, priority 0, weight 1.
    fn default() -> Self {
        Quota {
            guaranteed: Resources::ZERO,
            deserved: Resources::ZERO,
            limit: Limits::NONE,
            over_quota_priority: 0,
            over_quota_weight: 1.0,
            models: BTreeMap::new(),
        }
    }
}

impl Quota {
    /// `deserved` of every resource, with `guaranteed` = 0 and no limit.
    pub fn deserved(deserved: Resources) -> Self {
        Quota {
            deserved,
            ..Quota::default()
        }
    }

    /// Checks the quota on its own; errors name `quota.<part>.<resource>`.
    pub fn validate(&self) -> Result<()> {
        self.guaranteed.validate("quota.guaranteed")?;
        self.deserved.validate("quota.deserved")?;
        for r in Resource::ALL {
            self.validate_resource(r)?;
        }
        non_negative("quota.over_quota_weight", self.over_quota_weight)?;
        for (model, q) in &self.models {
            validate_model(model, q)?;
        }
        Ok(())
    }

    fn validate_resource(&self, r: Resource) -> Result<()> {
        let (g, d) = (self.guaranteed.get(r), self.deserved.get(r));
        if g > d {
            return Err(Error::invalid(
                format!("quota.guaranteed.{r}"),
                format!("guarantee {g} exceeds deserved {d}"),
            ));
        }
        if let Some(l) = self.limit.0[r.index()] {
            non_negative(&format!("quota.limit.{r}"), l)?;
            if g > l {
                return Err(Error::invalid(
                    format!("quota.guaranteed.{r}"),
                    format!("guarantee {g} exceeds the limit {l}"),
                ));
            }
            if d > l {
                return Err(Error::invalid(
                    format!("quota.deserved.{r}"),
                    format!("deserved {d} exceeds the limit {l}"),
                ));
            }
        }
        Ok(())
    }

    /// The guarantee on GPUs of `model` (0 when the model has no quota).
    pub fn model_guaranteed(&self, model: &str) -> f64 {
        self.models.get(model).map_or(0.0, |q| q.guaranteed)
    }

    /// The cap on GPUs of `model` (`f64::INFINITY` when none).
    pub fn model_limit(&self, model: &str) -> f64 {
        self.models
            .get(model)
            .and_then(|q| q.limit)
            .unwrap_or(f64::INFINITY)
    }
}

fn validate_model(model: &str, q: &ModelQuota) -> Result<()> {
    if model.is_empty() {
        return Err(Error::invalid("quota.models", "empty GPU model name"));
    }
    non_negative(&format!("quota.models[{model}].guaranteed"), q.guaranteed)?;
    if let Some(l) = q.limit {
        non_negative(&format!("quota.models[{model}].limit"), l)?;
        if q.guaranteed > l {
            return Err(Error::invalid(
                format!("quota.models[{model}].guaranteed"),
                format!("guarantee {} exceeds the limit {l}", q.guaranteed),
            ));
        }
    }
    Ok(())
}

/// Checks that `children`'s guarantees fit in `parent`'s, per resource and per GPU model;
/// `parent_name` names the parent in the error.
pub(crate) fn check_children_guarantees<'a>(
    parent_name: &str,
    parent: &Quota,
    children: impl Iterator<Item = &'a Quota> + Clone,
) -> Result<()> {
    for r in Resource::ALL {
        let sum: f64 = children.clone().map(|q| q.guaranteed.get(r)).sum();
        let cap = parent.guaranteed.get(r);
        if !approx_le(sum, cap) {
            return Err(Error::invalid(
                format!("quota.guaranteed.{r}"),
                format!("children of {parent_name:?} are guaranteed {sum} in total, more than its guarantee {cap}"),
            ));
        }
    }
    for (model, pq) in &parent.models {
        let sum: f64 = children.clone().map(|q| q.model_guaranteed(model)).sum();
        if !approx_le(sum, pq.guaranteed) {
            return Err(Error::invalid(
                format!("quota.models[{model}].guaranteed"),
                format!(
                    "children of {parent_name:?} are guaranteed {sum} {model} GPUs, more than its {}",
                    pq.guaranteed
                ),
            ));
        }
    }
    Ok(())
}
