//! Output tokens charged per tenant during one `update`, applied once per tenant.
//!
//! Charging each request's tokens to its tenant as it is seen makes `update` a chain of
//! dependent floating-point additions through memory (service and counter per tenant). The
//! tally instead counts, per tenant, a run of equal charges (same tokens per request); the
//! scheduler applies a run with [`add_repeated`], whose result has the same bits as adding one
//! charge at a time, so nothing observable changes. Until applied, the tally can be dropped
//! (an `update` that fails changes nothing).

/// Per-tenant runs of equal output charges, pending until applied.
#[derive(Debug, Default)]
pub(crate) struct OutputTally {
    /// Per tenant: `(tokens per charge, charges)` of its pending run (0 charges: none).
    runs: Vec<(u32, u32)>,
    /// Tenants with a pending run, in first-charge order.
    touched: Vec<u32>,
    /// Runs ended by a charge of other tokens per charge: `(tenant, tokens, charges)`.
    ended: Vec<(u32, u32, u32)>,
}

impl OutputTally {
    /// Makes room for tenants `0..tenants`.
    pub fn fit(&mut self, tenants: usize) {
        if self.runs.len() < tenants {
            self.runs.resize(tenants, (0, 0));
        }
    }

    /// Records a charge of `tokens` to `tenant` (below the `fit` size).
    #[inline(always)]
    pub fn add(&mut self, tenant: u32, tokens: u32) {
        let run = &mut self.runs[tenant as usize];
        if run.1 != 0 && run.0 == tokens {
            run.1 += 1;
        } else {
            self.start_run(tenant, tokens);
        }
    }

    /// Starts a run of `tenant` (its first charge, or other tokens per charge). Out of line:
    /// once per tenant and update, usually.
    #[cold]
    #[inline(never)]
    fn start_run(&mut self, tenant: u32, tokens: u32) {
        let run = &mut self.runs[tenant as usize];
        match run.1 {
            0 => self.touched.push(tenant),
            n => self.ended.push((tenant, run.0, n)),
        }
        *run = (tokens, 1);
    }

    /// Takes the runs as `(tenant, tokens per charge, charges)`: each tenant's in the order
    /// they were recorded.
    pub fn drain_into(&mut self, out: &mut Vec<(u32, u32, u32)>) {
        out.append(&mut self.ended);
        for t in self.touched.drain(..) {
            let (tokens, times) = std::mem::take(&mut self.runs[t as usize]);
            out.push((t, tokens, times));
        }
    }

    /// Drops every run.
    pub fn clear(&mut self) {
        self.ended.clear();
        for t in self.touched.drain(..) {
            self.runs[t as usize] = (0, 0);
        }
    }
}

/// `acc` plus `x` added `times` times, rounding after each addition as a loop does, in O(1)
/// when no addition rounds (the usual case: whole token counts, weights such as 1, 2 or 0.5).
pub(crate) fn add_repeated(acc: f64, x: f64, times: u32) -> f64 {
    if let Some(sum) = exact_repeated_sum(acc, x, times) {
        return sum;
    }
    let mut acc = acc;
    for _ in 0..times {
        acc += x;
    }
    acc
}

/// `acc + times * x` if every partial sum `acc + j * x` is exactly representable (then each
/// addition of the loop is exact too). With `g` the largest power of two dividing both values,
/// every partial sum is a multiple of `g` that grows with `j`, hence exact while the last one
/// is below `2^53 g`. Rounding is monotone, so the computed sum reaches `2^53 g` whenever the
/// true one does, and the test is sound. Only for finite, non-negative values.
fn exact_repeated_sum(acc: f64, x: f64, times: u32) -> Option<f64> {
    let finite = acc.is_finite() && x.is_finite();
    if !finite || acc < 0.0 || x < 0.0 {
        return None;
    }
    let grain = grain(acc).min(grain(x));
    let sum = acc + x * f64::from(times);
    (sum < grain * pow2(53)).then_some(sum)
}

/// The largest power of two dividing `v` (finite, >= 0); infinity for 0.
fn grain(v: f64) -> f64 {
    if v == 0.0 {
        return f64::INFINITY;
    }
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    // value = significand * 2^exponent, with the implicit bit for normal numbers.
    let (significand, exponent) = match biased {
        0 => (fraction, -1074),
        _ => (fraction | (1 << 52), biased - 1075),
    };
    pow2(exponent + significand.trailing_zeros() as i32)
}

/// `2^e` for `e` in `-1074..=1023`, exactly.
fn pow2(e: i32) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1 << (e + 1074))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Whole numbers, thirds, powers of two, arbitrary reals and values near 2^53.
    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            (0u32..1 << 20).prop_map(f64::from),
            (0u32..3000).prop_map(|n| f64::from(n) / 3.0),
            (0i32..80).prop_map(|e| 2f64.powi(-e)),
            0.0..1e6f64,
            (0u32..1000).prop_map(|n| pow2(53) - f64::from(n)),
        ]
    }

    proptest! {
        #[test]
        fn same_bits_as_a_loop_for_any_values(acc in value(), x in value(), times in 0u32..3000) {
            let want = looped(acc, x, times);
            prop_assert_eq!(add_repeated(acc, x, times).to_bits(), want.to_bits());
        }
    }

    fn looped(acc: f64, x: f64, times: u32) -> f64 {
        (0..times).fold(acc, |a, _| a + x)
    }

    #[test]
    fn same_bits_as_a_loop() {
        let values = [
            0.0,
            1.0,
            2.0,
            0.5,
            1.0 / 3.0,
            0.1,
            3.0e15,
            9.0e15,
            1e-300,
            5e-324,
        ];
        for &acc in &values {
            for &x in &values {
                for times in [0, 1, 2, 3, 7, 1000] {
                    let (got, want) = (add_repeated(acc, x, times), looped(acc, x, times));
                    assert_eq!(got.to_bits(), want.to_bits(), "{acc} + {times} x {x}");
                }
            }
        }
    }

    #[test]
    fn exact_path_taken_for_whole_numbers() {
        assert_eq!(exact_repeated_sum(10.0, 2.0, 5), Some(20.0));
        assert_eq!(exact_repeated_sum(0.1, 0.2, 3), None);
        assert_eq!(grain(6.0), 2.0);
        assert_eq!(grain(0.75), 0.25);
        assert_eq!(grain(5e-324), 5e-324);
    }

    #[test]
    fn runs_split_on_other_token_counts() {
        let mut t = OutputTally::default();
        t.fit(3);
        t.add(2, 1);
        t.add(0, 1);
        t.add(2, 1);
        t.add(2, 4);
        let mut out = Vec::new();
        t.drain_into(&mut out);
        assert_eq!(out, vec![(2, 1, 2), (2, 4, 1), (0, 1, 1)]);
        t.drain_into(&mut out);
        assert_eq!(out.len(), 3);
        t.add(1, 3);
        t.add(1, 2);
        t.clear();
        t.drain_into(&mut out);
        assert_eq!(out.len(), 3);
    }
}
