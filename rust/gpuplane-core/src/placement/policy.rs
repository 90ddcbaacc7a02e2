//! The placement policies a cluster can use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::names;

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
    /// Tetris-style alignment: the node whose free (CPU, GPU) vector has the smallest dot
    /// product with the request, normalized by the largest node spec (the FGD paper's baseline).
    DotProd,
    /// Nodes already running work of the same GPU kind (shared, or whole GPUs of the same
    /// count) first, then idle nodes, then others; fuller nodes first within each tier (the FGD
    /// paper's baseline).
    Clustering,
    /// `fgd` whose measure also counts unfillable capacity: free GPU capacity that repeated
    /// pods of a typical shape could not take, for lack of room per GPU, CPU or host memory.
    FgdFill,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 9] = [
        PolicyKind::FirstFit,
        PolicyKind::BestFit,
        PolicyKind::Spread,
        PolicyKind::Packing,
        PolicyKind::Random,
        PolicyKind::Fgd,
        PolicyKind::DotProd,
        PolicyKind::Clustering,
        PolicyKind::FgdFill,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::FirstFit => "first_fit",
            PolicyKind::BestFit => "best_fit",
            PolicyKind::Spread => "spread",
            PolicyKind::Packing => "packing",
            PolicyKind::Random => "random",
            PolicyKind::Fgd => "fgd",
            PolicyKind::DotProd => "dotprod",
            PolicyKind::Clustering => "clustering",
            PolicyKind::FgdFill => "fgd_fill",
        }
    }

    /// Whether the policy scores against the workload shape distribution.
    pub fn uses_distribution(self) -> bool {
        matches!(self, PolicyKind::Fgd | PolicyKind::FgdFill)
    }

    /// Whether the policy has a form in the FGD paper's artifact (`ScoreMode::Artifact`);
    /// others score natively in either mode.
    pub fn in_artifact(self) -> bool {
        self != PolicyKind::FgdFill
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
        names::one_of(&PolicyKind::ALL, PolicyKind::name, s, "policy", "policy")
    }
}

/// How node scores are computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScoreMode {
    /// Exact scores with tie-breaks that favour packing (gpuplane's own).
    #[default]
    Native,
    /// As the FGD paper's artifact (the Kubernetes scheduler simulator): integer node scores
    /// from 0 to 100, ties to the lowest node index, GPUs chosen by the artifact's rules.
    Artifact,
    /// The artifact's scores with ties drawn uniformly among the tied nodes, as the upstream
    /// Kubernetes scheduler's `selectHost` (reservoir sampling over equal top scores) does.
    Kubernetes,
}

impl ScoreMode {
    pub const ALL: [ScoreMode; 3] = [
        ScoreMode::Native,
        ScoreMode::Artifact,
        ScoreMode::Kubernetes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ScoreMode::Native => "native",
            ScoreMode::Artifact => "artifact",
            ScoreMode::Kubernetes => "kubernetes",
        }
    }

    /// Whether nodes are scored as the FGD paper's artifact scores them.
    pub fn is_artifact(self) -> bool {
        self != ScoreMode::Native
    }

    /// Whether ties among equally scored nodes are drawn at random (else the first node wins).
    pub fn random_ties(self) -> bool {
        self == ScoreMode::Kubernetes
    }
}

impl FromStr for ScoreMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        names::one_of(&ScoreMode::ALL, ScoreMode::name, s, "scoring", "scoring")
    }
}
