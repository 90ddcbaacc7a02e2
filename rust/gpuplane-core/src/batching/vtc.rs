//! Weighted Virtual Token Counters (Sheng et al., OSDI'24) for a set of accounts.
//!
//! An account is a tenant or a workflow. Charges are divided by the account's weight. An
//! account that becomes backlogged again (its first waiting request) is lifted to the minimum
//! counter of the currently backlogged accounts, so idling banks no credit. A book of
//! attained service ([`CounterBook::attained`]) never lifts: its counters only grow by charges.

use std::collections::BTreeSet;

use super::queue::OrdF64;
use super::tally::add_repeated;

/// Counters, weights and backlog state of a set of accounts.
#[derive(Debug, Default)]
pub(crate) struct CounterBook {
    counter: Vec<f64>,
    /// The counter value the ordered sets currently hold for each account.
    keyed: Vec<f64>,
    weight: Vec<f64>,
    /// Last `(amount bits, amount / weight)` charged per account: repeated charges of the
    /// same amount (one output token) skip the division, with bit-identical results.
    quot: Vec<(u64, f64)>,
    waiting: Vec<u32>,
    dirty: Vec<bool>,
    dirty_list: Vec<u32>,
    backlogged: BTreeSet<(OrdF64, u32)>,
    /// Counters are attained service: never lifted on re-backlog.
    no_lift: bool,
}

impl CounterBook {
    /// A book whose counters are attained service (never lifted).
    pub fn attained() -> Self {
        Self {
            no_lift: true,
            ..Self::default()
        }
    }

    /// Adds an account with `weight` (> 0) and returns its index.
    pub fn add_account(&mut self, weight: f64) -> u32 {
        self.counter.push(0.0);
        self.keyed.push(0.0);
        self.weight.push(weight);
        self.quot.push((0.0f64.to_bits(), 0.0 / weight));
        self.waiting.push(0);
        self.dirty.push(false);
        (self.counter.len() - 1) as u32
    }

    /// Resets a recycled, idle account to a fresh one with `weight`.
    pub fn reset_account(&mut self, a: u32, weight: f64) {
        let i = a as usize;
        self.counter[i] = 0.0;
        self.keyed[i] = 0.0;
        self.weight[i] = weight;
        self.quot[i] = (0.0f64.to_bits(), 0.0 / weight);
    }

    /// Changes an account's weight for the charges to come (its counter stays).
    pub fn set_weight(&mut self, a: u32, weight: f64) {
        let i = a as usize;
        if self.weight[i] != weight {
            self.weight[i] = weight;
            self.quot[i] = (f64::NAN.to_bits(), 0.0); // no charge amount is NaN: recompute
        }
    }

    /// The counter value held in ordered sets (equal to the counter outside a flush window).
    pub fn keyed(&self, a: u32) -> f64 {
        self.keyed[a as usize]
    }

    /// The current counter.
    pub fn counter(&self, a: u32) -> f64 {
        self.counter[a as usize]
    }

    /// The account's weight.
    pub fn weight(&self, a: u32) -> f64 {
        self.weight[a as usize]
    }

    /// Waiting requests of the account.
    pub fn waiting(&self, a: u32) -> u32 {
        self.waiting[a as usize]
    }

    /// Charges `amount` weighted tokens (divided by the weight); applied to ordered sets by
    /// the next [`CounterBook::flush`].
    #[inline(always)]
    pub fn charge(&mut self, a: u32, amount: f64) {
        self.charge_repeated(a, amount, 1);
    }

    /// [`CounterBook::charge`] `times` times over, with the same result.
    #[inline(always)]
    pub fn charge_repeated(&mut self, a: u32, amount: f64, times: u32) {
        let i = a as usize;
        let bits = amount.to_bits();
        let q = if self.quot[i].0 == bits {
            self.quot[i].1
        } else {
            let q = amount / self.weight[i];
            self.quot[i] = (bits, q);
            q
        };
        self.counter[i] = match times {
            1 => self.counter[i] + q,
            _ => add_repeated(self.counter[i], q, times),
        };
        if !self.dirty[i] {
            self.dirty[i] = true;
            self.dirty_list.push(a);
        }
    }

    /// Sets an account's counter; applied to ordered sets by the next [`CounterBook::flush`].
    pub fn set_counter(&mut self, a: u32, value: f64) {
        let i = a as usize;
        if self.counter[i] == value {
            return;
        }
        self.counter[i] = value;
        if !self.dirty[i] {
            self.dirty[i] = true;
            self.dirty_list.push(a);
        }
    }

    /// Re-keys charged accounts in the backlog set and reports `(account, old, new)` so the
    /// caller can re-key its own sets.
    pub fn flush(&mut self, moved: &mut Vec<(u32, f64, f64)>) {
        for a in std::mem::take(&mut self.dirty_list) {
            let i = a as usize;
            self.dirty[i] = false;
            let (old, new) = (self.keyed[i], self.counter[i]);
            if self.waiting[i] > 0 {
                self.backlogged.remove(&(OrdF64(old), a));
                self.backlogged.insert((OrdF64(new), a));
            }
            self.keyed[i] = new;
            moved.push((a, old, new));
        }
    }

    /// Counts one more waiting request. On the first one, lifts the counter to the minimum
    /// backlogged counter and returns `Some((old, new))` if it changed. Requires no pending
    /// charges (call [`CounterBook::flush`] first).
    pub fn enqueue(&mut self, a: u32) -> Option<(f64, f64)> {
        let i = a as usize;
        self.waiting[i] += 1;
        if self.waiting[i] > 1 {
            return None;
        }
        let old = self.counter[i];
        let floor = match self.backlogged.first() {
            Some(&(c, _)) if !self.no_lift => c.0,
            _ => old,
        };
        let new = old.max(floor);
        self.counter[i] = new;
        self.keyed[i] = new;
        self.backlogged.insert((OrdF64(new), a));
        (new != old).then_some((old, new))
    }

    /// Counts one less waiting request.
    pub fn dequeue(&mut self, a: u32) {
        let i = a as usize;
        self.waiting[i] -= 1;
        if self.waiting[i] == 0 {
            self.backlogged.remove(&(OrdF64(self.keyed[i]), a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lift_to_min_backlogged() {
        let mut b = CounterBook::default();
        let (x, y, z) = (b.add_account(1.0), b.add_account(2.0), b.add_account(1.0));
        b.enqueue(x);
        b.enqueue(y);
        b.charge(x, 10.0);
        b.charge(y, 10.0);
        let mut moved = Vec::new();
        b.flush(&mut moved);
        assert_eq!((b.counter(x), b.counter(y)), (10.0, 5.0));
        assert_eq!(b.enqueue(z), Some((0.0, 5.0)));
        b.dequeue(y);
        b.dequeue(z);
        assert_eq!(b.enqueue(z), Some((5.0, 10.0)));
    }

    #[test]
    fn attained_service_is_never_lifted() {
        let mut b = CounterBook::attained();
        let (x, y) = (b.add_account(1.0), b.add_account(1.0));
        b.enqueue(x);
        b.charge(x, 10.0);
        b.flush(&mut Vec::new());
        assert_eq!(b.enqueue(y), None);
        assert_eq!((b.counter(x), b.counter(y)), (10.0, 0.0));
    }
}
