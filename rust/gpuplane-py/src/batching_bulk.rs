//! Numpy columns in for the batching scheduler: requests added in bulk and a step's outputs.

use gpuplane_core::batching::{Request, StepOutputs};
use gpuplane_core::Error;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{invalid, signed32, unsigned, unsigned32};

use crate::columns::{ints as int_values, optional_floats as optional_float};
use crate::columns::{optional_ints as optional, sized};
pub use crate::columns::{FloatColumn, IntColumn};

/// The tenant column of a bulk add: one name for all, or one per request.
#[derive(FromPyObject)]
pub enum Tenants {
    One(String),
    Many(Vec<String>),
}

/// Tenant of requests added without one.
const DEFAULT_TENANT: &str = "default";

/// `unsigned` for entry `i` of column `name`; the field name is formatted only on error.
fn unsigned_at(name: &str, i: usize, value: i64) -> PyResult<u64> {
    u64::try_from(value).or_else(|_| unsigned(&format!("{name}[{i}]"), value))
}

/// `unsigned32` for entry `i` of column `name`.
fn unsigned32_at(name: &str, i: usize, value: i64) -> PyResult<u32> {
    u32::try_from(value).or_else(|_| unsigned32(&format!("{name}[{i}]"), value))
}

/// `signed32` for entry `i` of column `name`.
fn signed32_at(name: &str, i: usize, value: i64) -> PyResult<i32> {
    i32::try_from(value).or_else(|_| signed32(&format!("{name}[{i}]"), value))
}

/// The columns of `BatchScheduler.add_many`; optional ones default to tenant `"default"`,
/// priority 0, arrival 0, no deadline (NaN) and no workflow (-1).
pub struct RequestColumns<'py> {
    pub ids: IntColumn<'py>,
    pub prompt_len: IntColumn<'py>,
    pub max_new_tokens: IntColumn<'py>,
    pub tenants: Option<Tenants>,
    pub priority: Option<IntColumn<'py>>,
    pub arrival: Option<FloatColumn<'py>>,
    pub ttft_deadline: Option<FloatColumn<'py>>,
    pub workflow: Option<IntColumn<'py>>,
}

impl RequestColumns<'_> {
    /// One request per id, every value converted and named by its column and index.
    pub fn requests(&self) -> PyResult<Vec<Request>> {
        let ids = int_values("ids", &self.ids)?;
        let n = ids.len();
        let prompt = sized("prompt_len", int_values("prompt_len", &self.prompt_len)?, n)?;
        let max_new = int_values("max_new_tokens", &self.max_new_tokens)?;
        let max_new = sized("max_new_tokens", max_new, n)?;
        let prio = optional("priority", &self.priority, n)?;
        let arrival = optional_float("arrival", &self.arrival, n)?;
        let deadline = optional_float("ttft_deadline", &self.ttft_deadline, n)?;
        let workflow = optional("workflow", &self.workflow, n)?;
        if let Some(Tenants::Many(t)) = &self.tenants {
            if t.len() != n {
                let why = format!("has {} entries, expected {n}", t.len());
                return Err(invalid("tenants", why));
            }
        }
        let at =
            |col: &Option<Vec<i64>>, i: usize, default: i64| col.as_ref().map_or(default, |c| c[i]);
        (0..n)
            .map(|i| {
                Ok(Request {
                    id: unsigned_at("ids", i, ids[i])?,
                    tenant: self.tenant(i).to_string(),
                    prompt_len: unsigned32_at("prompt_len", i, prompt[i])?,
                    block_hashes: Vec::new(),
                    max_new_tokens: unsigned32_at("max_new_tokens", i, max_new[i])?,
                    priority: signed32_at("priority", i, at(&prio, i, 0))?,
                    arrival: arrival.as_ref().map_or(0.0, |c| c[i]),
                    ttft_deadline: deadline.as_ref().map(|c| c[i]).filter(|d| !d.is_nan()),
                    workflow: workflow_id(i, at(&workflow, i, -1))?,
                    last_call: false,
                })
            })
            .collect()
    }

    fn tenant(&self, i: usize) -> &str {
        match &self.tenants {
            None => DEFAULT_TENANT,
            Some(Tenants::One(t)) => t,
            Some(Tenants::Many(t)) => &t[i],
        }
    }
}

/// Entry `i` of the workflow column: -1 is none, other negatives are refused.
fn workflow_id(i: usize, value: i64) -> PyResult<Option<u64>> {
    if value == -1 {
        return Ok(None);
    }
    unsigned_at("workflow", i, value).map(Some)
}

/// Renames the core's batch field `reqs[i].name` to the column form `name[i]` (the tenant
/// column is `tenants`).
pub fn column_error(err: Error) -> Error {
    let Error::InvalidRequest { field, reason } = err else {
        return err;
    };
    let renamed = field
        .strip_prefix("reqs[")
        .and_then(|rest| rest.split_once("]."))
        .map(|(i, name)| match name {
            "tenant" => format!("tenants[{i}]"),
            _ => format!("{name}[{i}]"),
        });
    Error::invalid(renamed.unwrap_or(field), reason)
}

/// The engine's outputs of a step: `generated` is a dict `{id: tokens}`, or an id column with
/// `counts` alongside; `finished` lists ids that stopped.
pub fn step_outputs(
    generated: &Bound<'_, PyAny>,
    counts: Option<IntColumn<'_>>,
    finished: Option<IntColumn<'_>>,
) -> PyResult<StepOutputs> {
    let generated = match generated.cast::<PyDict>() {
        Ok(dict) if counts.is_none() => from_dict(dict)?,
        Ok(_) => return Err(invalid("counts", "must be None when generated is a dict")),
        Err(_) => {
            let counts = counts.ok_or_else(|| invalid("counts", "required with an id array"))?;
            from_columns(generated, &counts)?
        }
    };
    let finished = match &finished {
        None => Vec::new(),
        Some(col) => int_values("finished", col)?
            .iter()
            .enumerate()
            .map(|(i, &id)| unsigned_at("finished", i, id))
            .collect::<PyResult<_>>()?,
    };
    Ok(StepOutputs {
        generated,
        finished,
    })
}

fn from_dict(dict: &Bound<'_, PyDict>) -> PyResult<Vec<(u64, u32)>> {
    dict.iter()
        .map(|(k, v)| {
            let id = unsigned("generated", k.extract::<i64>()?)?;
            let n = unsigned32_at("generated", id as usize, v.extract::<i64>()?)?;
            Ok((id, n))
        })
        .collect()
}

fn from_columns(ids: &IntColumn<'_>, counts: &IntColumn<'_>) -> PyResult<Vec<(u64, u32)>> {
    let ids = int_values("generated", ids)?;
    let counts = sized("counts", int_values("counts", counts)?, ids.len())?;
    ids.iter()
        .zip(counts.iter())
        .enumerate()
        .map(|(i, (&id, &n))| {
            Ok((
                unsigned_at("generated", i, id)?,
                unsigned32_at("counts", i, n)?,
            ))
        })
        .collect()
}
