//! The four resources the policy engine accounts for, and vectors of amounts over them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Number of accounted resources.
pub const NUM_RESOURCES: usize = 4;

/// One accounted resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Resource {
    /// Whole or fractional GPUs.
    Gpus,
    /// GPU memory in MiB.
    MemoryMib,
    /// Weighted tokens per second (`w_in` per prompt token + `w_out` per output token).
    TokensPerSec,
    /// Concurrent requests.
    Concurrent,
}

impl Resource {
    /// Every resource, in index order.
    pub const ALL: [Resource; NUM_RESOURCES] = [
        Resource::Gpus,
        Resource::MemoryMib,
        Resource::TokensPerSec,
        Resource::Concurrent,
    ];

    /// The field name used in errors and explanations.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Gpus => "gpus",
            Resource::MemoryMib => "memory_mib",
            Resource::TokensPerSec => "tokens_per_s",
            Resource::Concurrent => "concurrent",
        }
    }

    /// The resource of a name (as [`Resource::name`] writes it); `InvalidRequest` on
    /// `{field}.{name}` for any other name.
    pub fn parse(field: &str, name: &str) -> crate::error::Result<Resource> {
        Resource::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| {
                crate::error::Error::invalid(
                    format!("{field}.{name}"),
                    "unknown resource; expected gpus, memory_mib, tokens_per_s or concurrent",
                )
            })
    }

    /// Position of this resource in a [`Resources`] vector.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An amount of each resource, indexed by [`Resource::index`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Resources(pub [f64; NUM_RESOURCES]);

/// `{gpus=2, memory_mib=40000}`: the non-zero amounts by name (`{}` when all are zero).
impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        let mut first = true;
        for r in Resource::ALL {
            let v = self.get(r);
            if v != 0.0 {
                let sep = if first { "" } else { ", " };
                write!(f, "{sep}{r}={v}")?;
                first = false;
            }
        }
        f.write_str("}")
    }
}

impl Resources {
    /// All zero.
    pub const ZERO: Resources = Resources([0.0; NUM_RESOURCES]);

    /// A vector from its four amounts.
    pub fn new(gpus: f64, memory_mib: f64, tokens_per_s: f64, concurrent: f64) -> Self {
        Resources([gpus, memory_mib, tokens_per_s, concurrent])
    }

    /// Only GPUs set.
    pub fn gpus(n: f64) -> Self {
        Resources::new(n, 0.0, 0.0, 0.0)
    }

    /// The amount of `r`.
    pub fn get(&self, r: Resource) -> f64 {
        self.0[r.index()]
    }

    /// Sets the amount of `r`.
    pub fn set(&mut self, r: Resource, v: f64) {
        self.0[r.index()] = v;
    }

    /// Element-wise `f(a, b)`.
    pub fn zip(self, other: Resources, f: impl Fn(f64, f64) -> f64) -> Resources {
        let mut out = self;
        for (o, b) in out.0.iter_mut().zip(other.0) {
            *o = f(*o, b);
        }
        out
    }

    /// Element-wise sum.
    pub fn plus(self, other: Resources) -> Resources {
        self.zip(other, |a, b| a + b)
    }

    /// Element-wise difference, floored at 0.
    pub fn minus(self, other: Resources) -> Resources {
        self.zip(other, |a, b| (a - b).max(0.0))
    }

    /// Element-wise product with a scalar.
    pub fn scale(self, k: f64) -> Resources {
        self.zip(Resources::ZERO, |a, _| a * k)
    }

    /// Element-wise minimum.
    pub fn min(self, other: Resources) -> Resources {
        self.zip(other, f64::min)
    }

    /// Whether every amount is at most `other`'s, with a relative tolerance of 1e-9.
    pub fn le(&self, other: &Resources) -> bool {
        self.0.iter().zip(other.0).all(|(&a, b)| approx_le(a, b))
    }

    /// Whether every amount is 0.
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|&a| a == 0.0)
    }

    /// Checks that every amount is finite and >= 0; errors name `{field}.{resource}`.
    pub fn validate(&self, field: &str) -> Result<()> {
        for r in Resource::ALL {
            non_negative(&format!("{field}.{r}"), self.get(r))?;
        }
        Ok(())
    }
}

/// `a <= b` up to a relative tolerance of 1e-9 (absolute 1e-9 near zero).
pub fn approx_le(a: f64, b: f64) -> bool {
    a <= b + 1e-9 * b.abs().max(1.0)
}

/// Checks that `v` is finite and >= 0.
pub(crate) fn non_negative(field: &str, v: f64) -> Result<()> {
    if !v.is_finite() || v < 0.0 {
        return Err(Error::invalid(
            field,
            format!("must be finite and >= 0, got {v}"),
        ));
    }
    Ok(())
}

/// Optional hard caps per resource; `None` is no cap.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Limits(pub [Option<f64>; NUM_RESOURCES]);

impl Limits {
    /// No cap on anything.
    pub const NONE: Limits = Limits([None; NUM_RESOURCES]);

    /// The cap on `r`, `f64::INFINITY` when there is none.
    pub fn get(&self, r: Resource) -> f64 {
        self.0[r.index()].unwrap_or(f64::INFINITY)
    }

    /// Sets (or clears) the cap on `r`.
    pub fn set(&mut self, r: Resource, v: Option<f64>) {
        self.0[r.index()] = v;
    }

    /// The caps as a vector, `f64::INFINITY` where there is none.
    pub fn as_resources(&self) -> Resources {
        Resources(self.0.map(|v| v.unwrap_or(f64::INFINITY)))
    }
}
