//! Small statistics used by the reports: percentiles and fairness measures.

use serde::{Deserialize, Serialize};

/// Summary of a sample: count, mean and nearest-rank percentiles (0 for an empty sample).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Dist {
    /// The summary of `values` (sorted in place).
    pub fn of(values: &mut [f64]) -> Dist {
        if values.is_empty() {
            return Dist::default();
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let rank = |p: f64| values[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Dist {
            count: n as u64,
            mean: values.iter().sum::<f64>() / n as f64,
            p50: rank(0.5),
            p90: rank(0.9),
            p99: rank(0.99),
            max: values[n - 1],
        }
    }
}

/// Max and mean pairwise absolute difference of `values` (0 for fewer than two).
pub fn spread(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n < 2 {
        return (0.0, 0.0);
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let sum: f64 = v
        .iter()
        .enumerate()
        .map(|(i, x)| x * (2.0 * i as f64 - (n as f64 - 1.0)))
        .sum();
    (v[n - 1] - v[0], sum / (n * (n - 1) / 2) as f64)
}

/// Jain's fairness index `(sum x)^2 / (n * sum x^2)`: 1 when all equal, `1/n` when one has all
/// (1 for an empty or all-zero sample).
pub fn jain(values: &[f64]) -> f64 {
    let sq: f64 = values.iter().map(|x| x * x).sum();
    if values.is_empty() || sq == 0.0 {
        return 1.0;
    }
    let s: f64 = values.iter().sum();
    s * s / (values.len() as f64 * sq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let d = Dist::of(&mut v);
        assert_eq!(
            (d.count, d.p50, d.p90, d.p99, d.max),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(d.mean, 50.5);
        assert_eq!(Dist::of(&mut []), Dist::default());
    }

    #[test]
    fn spread_and_jain() {
        assert_eq!(spread(&[3.0, 0.0, 1.0]), (3.0, 2.0));
        assert_eq!(jain(&[1.0, 1.0, 1.0, 1.0]), 1.0);
        assert_eq!(jain(&[1.0, 0.0, 0.0, 0.0]), 0.25);
    }
}
