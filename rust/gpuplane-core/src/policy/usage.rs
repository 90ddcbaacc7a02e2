//! Usage with exponential decay, evaluated lazily: no timer ever runs.
//!
//! A usage account stores `(value, stamp)`. Its value at time `t >= stamp` is
//!
//! ```text
//! value(t) = value * 2^(-(t - stamp) / half_life)
//! ```
//!
//! and a charge of `x` at time `t` first decays the stored value to `t`, then adds `x`. So the
//! usage at `t` is `sum_i x_i * 2^(-(t - t_i) / half_life)` over all charges `x_i` made at
//! `t_i <= t`. A time before the stamp is treated as the stamp (usage never grows back).
//!
//! Because every account decays by the same factor, the ratio of two accounts' usage does not
//! change as time passes; it only changes when one of them is charged. The fair share uses
//! exactly such ratios (see [`super::fairshare`]), so decay alone never makes it stale.

use serde::{Deserialize, Serialize};

use super::resources::Resources;

/// A vector of decayed usage, stored as its value at `stamp`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Decayed {
    /// Usage at `stamp`.
    pub value: Resources,
    /// Time (seconds) at which `value` holds.
    pub stamp: f64,
}

/// `2^(-dt / half_life)` for `dt >= 0` (1 for `dt <= 0`).
pub fn decay_factor(dt: f64, half_life_s: f64) -> f64 {
    if dt <= 0.0 {
        1.0
    } else {
        (-dt / half_life_s).exp2()
    }
}

impl Decayed {
    /// The usage at time `t` (the stored value if `t` is before the stamp).
    pub fn at(&self, t: f64, half_life_s: f64) -> Resources {
        self.value.scale(decay_factor(t - self.stamp, half_life_s))
    }

    /// Decays to `t` (if later than the stamp) and adds `amount`.
    pub fn charge(&mut self, amount: Resources, t: f64, half_life_s: f64) {
        let t = t.max(self.stamp);
        self.value = self.at(t, half_life_s).plus(amount);
        self.stamp = t;
    }
}
