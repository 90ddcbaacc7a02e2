//! The placement policies a cluster can use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How a feasible (node, GPUs) candidate is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PolicyKind {
    /// First node in insertion order, lowest-index GPUs.
    FirstFit,
    /// Node left with the least free GPU capacity; tightest GPUs.
    BestFit,
    /// Node left with the most free GPU capacity; emptiest GPUs.
    Spread,
    /// Used GPUs first, then idle GPUs of used nodes, then idle nodes (the FGD paper's baseline).
    Packing,
    /// Uniform among feasible nodes and GPUs, seeded.
    Random,
    /// Fragmentation gradient descent: least increase of expected fragmentation.
    Fgd,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 6] = [
        PolicyKind::FirstFit,
        PolicyKind::BestFit,
        PolicyKind::Spread,
        PolicyKind::Packing,
        PolicyKind::Random,
        PolicyKind::Fgd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::FirstFit => "first_fit",
            PolicyKind::BestFit => "best_fit",
            PolicyKind::Spread => "spread",
            PolicyKind::Packing => "packing",
            PolicyKind::Random => "random",
            PolicyKind::Fgd => "fgd",
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PolicyKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        PolicyKind::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = PolicyKind::ALL.iter().map(|p| p.name()).collect();
                Error::invalid(
                    "policy",
                    format!("unknown policy {s:?}; expected one of {names:?}"),
                )
            })
    }
}
