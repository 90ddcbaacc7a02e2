//! A totally ordered `f64`, for keys of ordered sets and heaps.

use std::cmp::Ordering;

/// A totally ordered `f64` (IEEE total order: `-0.0` before `0.0`, NaNs at the ends).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OrdF64(pub f64);

impl Eq for OrdF64 {}

impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}
