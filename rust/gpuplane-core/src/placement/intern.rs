//! Small interning tables: names and label sets become dense numbers for cheap comparison.

use std::borrow::Borrow;
use std::hash::Hash;

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

/// Values in first-seen order; the number of a value is its position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interner<T: Hash + Eq + Clone> {
    values: Vec<T>,
    #[serde(skip)]
    index: FxHashMap<T, u32>,
}

impl<T: Hash + Eq + Clone> Interner<T> {
    pub fn intern(&mut self, value: &T) -> u32 {
        if let Some(&id) = self.index.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.clone());
        self.index.insert(value.clone(), id);
        id
    }

    pub fn get<Q: ?Sized + Hash + Eq>(&self, value: &Q) -> Option<u32>
    where
        T: Borrow<Q>,
    {
        self.index.get(value).copied()
    }

    /// Every number handed out, in order.
    pub fn ids(&self) -> impl Iterator<Item = u32> {
        0..self.values.len() as u32
    }

    pub fn value(&self, id: u32) -> &T {
        &self.values[id as usize]
    }

    /// Rebuilds the lookup after deserialization.
    pub fn reindex(&mut self) {
        self.index = self
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i as u32))
            .collect();
    }
}
