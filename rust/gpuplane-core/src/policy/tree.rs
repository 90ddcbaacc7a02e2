//! The tenant tree: an implicit root (the cluster) with nodes of any depth below it
//! (org -> team -> tenant). Only leaves hold work. Nodes are created, changed and removed at
//! runtime; every change is validated first and an error changes nothing.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::admission::Decision;
use super::quota::{check_children_guarantees, Quota};
use super::rate::TokenBucket;
use super::resources::{non_negative, Resources};
use super::usage::Decayed;
use crate::error::{Error, Result};
use crate::names;

/// Index of the implicit root.
pub(crate) const ROOT: usize = 0;
/// Parent index of the root.
pub(crate) const NO_PARENT: usize = usize::MAX;

/// What a caller says about one tree node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantSpec {
    /// Unique, non-empty name.
    pub name: String,
    /// Parent node; `None` hangs the node under the root (the cluster).
    pub parent: Option<String>,
    /// Quotas of this node's subtree.
    pub quota: Quota,
    /// Most requests this leaf may have queued; `None` is unbounded.
    pub max_queued: Option<u32>,
    /// Cost budget (currency units) of this node's subtree; `None` is unbounded.
    pub budget: Option<f64>,
    /// Token-bucket burst in weighted tokens; `None` uses the engine's default burst seconds
    /// times `quota.limit.tokens_per_s`. A bucket exists only where that limit is set.
    pub burst_tokens: Option<f64>,
}

impl TenantSpec {
    /// A node named `name` under `parent` with `quota` and no queue cap, budget or burst.
    pub fn new(name: impl Into<String>, parent: Option<&str>, quota: Quota) -> Self {
        TenantSpec {
            name: name.into(),
            parent: parent.map(str::to_owned),
            quota,
            max_queued: None,
            budget: None,
            burst_tokens: None,
        }
    }

    /// Checks the fields that do not depend on the tree.
    pub fn validate(&self) -> Result<()> {
        names::check_name("name", &self.name)?;
        if let Some(parent) = &self.parent {
            names::check_name("parent", parent)?;
        }
        if self.parent.as_deref() == Some(self.name.as_str()) {
            return Err(Error::invalid("parent", "a node cannot be its own parent"));
        }
        self.quota.validate()?;
        if let Some(b) = self.budget {
            non_negative("budget", b)?;
        }
        if let Some(b) = self.burst_tokens {
            non_negative("burst_tokens", b)?;
        }
        Ok(())
    }
}

/// One node with its fair-share and accounting state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub spec: TenantSpec,
    pub parent: usize,
    pub children: Vec<usize>,
    /// Demand reported for a leaf (unused for inner nodes).
    pub demand: Resources,
    /// min(own demand, or the children's capped demand summed, limit).
    pub capped: Resources,
    /// Fair share; valid when no strict ancestor is stale.
    pub share: Resources,
    /// The children's shares must be recomputed from this node's share.
    pub stale: bool,
    pub alloc: Resources,
    /// Part of `alloc` held by non-preemptible work.
    pub alloc_np: Resources,
    /// GPUs held per GPU model.
    pub model_alloc: BTreeMap<String, f64>,
    pub usage: Decayed,
    pub spent: f64,
    pub bucket: Option<TokenBucket>,
    pub queued: u32,
    pub running: u32,
    pub last: Option<Decision>,
}

impl Node {
    pub(crate) fn new(spec: TenantSpec, parent: usize) -> Self {
        Node {
            spec,
            parent,
            children: Vec::new(),
            demand: Resources::ZERO,
            capped: Resources::ZERO,
            share: Resources::ZERO,
            stale: true,
            alloc: Resources::ZERO,
            alloc_np: Resources::ZERO,
            model_alloc: BTreeMap::new(),
            usage: Decayed::default(),
            spent: 0.0,
            bucket: None,
            queued: 0,
            running: 0,
            last: None,
        }
    }

    /// Whether the node holds or waits for work.
    pub(crate) fn has_work(&self) -> bool {
        self.running > 0 || self.queued > 0
    }

    /// Whether the node is a leaf (may hold work).
    pub(crate) fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

/// The nodes, by index, with a name index. Index 0 is the root.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tree {
    nodes: Vec<Option<Node>>,
    index: HashMap<String, usize>,
    free: Vec<usize>,
}

impl Default for Tree {
    fn default() -> Self {
        let root = Node::new(TenantSpec::new("", None, Quota::default()), NO_PARENT);
        Tree {
            nodes: vec![Some(root)],
            index: HashMap::new(),
            free: Vec::new(),
        }
    }
}

impl Tree {
    /// The index of the node named `name`.
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The node at `i`, which must be live.
    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("live node index")
    }

    /// The node at `i`, mutably; `i` must be live.
    pub fn node_mut(&mut self, i: usize) -> &mut Node {
        self.nodes[i].as_mut().expect("live node index")
    }

    /// Number of nodes, root excluded.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Indices from `i` up to the root, `i` first.
    pub fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(i), |&n| {
            Some(self.node(n).parent).filter(|&p| p != NO_PARENT)
        })
    }

    /// Indices from the root down to `i`.
    pub fn path(&self, i: usize) -> Vec<usize> {
        let mut p: Vec<usize> = self.ancestors(i).collect();
        p.reverse();
        p
    }

    /// Every live index in breadth-first order from the root (parents before children).
    pub fn bfs(&self) -> Vec<usize> {
        let mut out = vec![ROOT];
        let mut k = 0;
        while k < out.len() {
            out.extend_from_slice(&self.node(out[k]).children);
            k += 1;
        }
        out
    }

    fn parent_of(&self, spec: &TenantSpec) -> Result<usize> {
        match &spec.parent {
            None => Ok(ROOT),
            Some(p) => self
                .lookup(p)
                .ok_or_else(|| Error::invalid("parent", format!("unknown tenant {p:?}"))),
        }
    }

    /// Adds a node; returns its index.
    pub fn add(&mut self, spec: TenantSpec) -> Result<usize> {
        spec.validate()?;
        if self.index.contains_key(&spec.name) {
            return Err(Error::Conflict(format!(
                "tenant {:?} already exists",
                spec.name
            )));
        }
        let parent = self.parent_of(&spec)?;
        self.check_parent_takes(parent, None, &spec)?;
        let node = Node::new(spec, parent);
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        };
        self.index.insert(self.node(i).spec.name.clone(), i);
        self.node_mut(parent).children.push(i);
        Ok(i)
    }

    /// Checks that `parent` may hold `spec` as a child (replacing `replacing`, if given).
    fn check_parent_takes(
        &self,
        parent: usize,
        replacing: Option<usize>,
        spec: &TenantSpec,
    ) -> Result<()> {
        let p = self.node(parent);
        if p.has_work() {
            return Err(Error::Conflict(format!(
                "tenant {:?} holds work; only leaves hold work, so it cannot get children",
                p.spec.name
            )));
        }
        if parent == ROOT {
            return Ok(());
        }
        let siblings = p
            .children
            .iter()
            .filter(|&&c| Some(c) != replacing)
            .map(|&c| &self.node(c).spec.quota);
        check_children_guarantees(&p.spec.name, &p.spec.quota, siblings.chain([&spec.quota]))
    }

    /// Replaces a node's spec (quota, parent, caps); returns its index and whether the parent
    /// changed (the old parent is returned too).
    pub fn update(&mut self, spec: TenantSpec) -> Result<(usize, usize)> {
        spec.validate()?;
        let i = self
            .lookup(&spec.name)
            .ok_or_else(|| Error::not_found("tenant", spec.name.clone()))?;
        let parent = self.parent_of(&spec)?;
        if self.ancestors(parent).any(|a| a == i) {
            return Err(Error::invalid(
                "parent",
                format!(
                    "{:?} under {:?} would create a cycle",
                    spec.name, spec.parent
                ),
            ));
        }
        self.check_parent_takes(parent, Some(i), &spec)?;
        let kids = self
            .node(i)
            .children
            .iter()
            .map(|&c| &self.node(c).spec.quota);
        check_children_guarantees(&spec.name, &spec.quota, kids)?;
        let old = self.node(i).parent;
        if old != parent {
            self.node_mut(old).children.retain(|&c| c != i);
            self.node_mut(parent).children.push(i);
        }
        let n = self.node_mut(i);
        n.parent = parent;
        n.spec = spec;
        Ok((i, old))
    }

    /// Removes a childless node without work; returns its old parent.
    pub fn remove(&mut self, name: &str) -> Result<usize> {
        let i = self
            .lookup(name)
            .ok_or_else(|| Error::not_found("tenant", name))?;
        let n = self.node(i);
        if !n.children.is_empty() {
            return Err(Error::Conflict(format!("tenant {name:?} has children")));
        }
        if n.has_work() {
            return Err(Error::Conflict(format!(
                "tenant {name:?} has running or queued work"
            )));
        }
        let parent = n.parent;
        self.node_mut(parent).children.retain(|&c| c != i);
        self.index.remove(name);
        self.nodes[i] = None;
        self.free.push(i);
        Ok(parent)
    }
}
