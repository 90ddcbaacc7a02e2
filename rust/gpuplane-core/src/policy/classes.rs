//! Priority classes: a name, a value (higher wins) and whether work of the class may be
//! preempted. Non-preemptible work is admitted only within guaranteed quota, so reclaiming
//! lent capacity never needs to touch it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names;

/// A priority class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityClass {
    /// Unique, non-empty name.
    pub name: String,
    /// Priority value; higher preempts lower.
    pub value: i32,
    /// Whether work of this class may be preempted or reclaimed.
    pub preemptible: bool,
}

impl PriorityClass {
    /// A class from its three fields.
    pub fn new(name: impl Into<String>, value: i32, preemptible: bool) -> Self {
        PriorityClass {
            name: name.into(),
            value,
            preemptible,
        }
    }

    /// Checks the name.
    pub fn validate(&self) -> Result<()> {
        names::check_name("class.name", &self.name)
    }
}

/// The set of classes, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassBook {
    classes: BTreeMap<String, PriorityClass>,
}

impl ClassBook {
    /// The default classes: `default` (0, preemptible) and `critical` (1000, non-preemptible).
    pub fn with_defaults() -> Self {
        let mut book = ClassBook::default();
        for c in [
            PriorityClass::new("default", 0, true),
            PriorityClass::new("critical", 1000, false),
        ] {
            book.classes.insert(c.name.clone(), c);
        }
        book
    }

    /// Adds or replaces a class.
    pub fn upsert(&mut self, class: PriorityClass) -> Result<()> {
        class.validate()?;
        self.classes.insert(class.name.clone(), class);
        Ok(())
    }

    /// Removes a class; `NotFound` if it does not exist.
    pub fn remove(&mut self, name: &str) -> Result<PriorityClass> {
        self.classes
            .remove(name)
            .ok_or_else(|| Error::not_found("priority class", name))
    }

    /// The class named `name`.
    pub fn get(&self, name: &str) -> Option<&PriorityClass> {
        self.classes.get(name)
    }

    /// All classes, by name.
    pub fn iter(&self) -> impl Iterator<Item = &PriorityClass> {
        self.classes.values()
    }
}
