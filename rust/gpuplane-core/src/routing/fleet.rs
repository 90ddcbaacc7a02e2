//! Fleet-wide weighted fair share: one Virtual Token Counter per tenant across all replicas
//! (VTC, Sheng et al., OSDI'24, generalised from one engine to N).
//!
//! Each replica charges what it actually served (weighted tokens, divided by the tenant's
//! weight) to the tenant's fleet counter; a tenant with requests outstanding anywhere in the
//! fleet is *backlogged*; a tenant that becomes backlogged again is lifted to the minimum
//! counter of the backlogged tenants, so idling banks no credit. The replicas' schedulers read
//! these counters before each step ([`crate::batching::BatchScheduler::set_tenant_counter`]) and
//! admit the backlogged tenant with the lowest one.
//!
//! **Bound.** Let `U` be the largest weighted charge one replica makes for one tenant between
//! two reads of the counters (one step: at most `token_budget x max(w_in, w_out)`), divided by
//! the smallest weight. With N replicas each choosing among the backlogged tenants the one with
//! the lowest counter it read, the counters of any two tenants that stay backlogged differ by
//! at most `max(initial spread, N x U)`: a tenant is charged only while its counter was the
//! lowest at some replica's read, and at most N reads (one per replica) can be stale at once,
//! each adding at most `U`. `tests/fleet_fair.rs` holds it under arbitrary interleavings
//! (proptest); the simulator shows it on traces (`fairness` in its report).
//!
//! **Bounded lag.** The bound assumes every replica can serve every backlogged tenant. A tenant
//! whose few waiting requests sit on a replica that cannot admit them (its KV or running cap is
//! reached) is backlogged fleet-wide while the other replicas serve the rest, so its counter
//! falls behind by more than `N x U` and it is later repaid in a burst, starving the others.
//! With [`FleetShare::set_max_lag`], a charge lifts every backlogged counter to at least the
//! charged one's minus the lag: no backlogged tenant banks more than the lag. A lag of at least
//! `N x U` never lifts a tenant that every replica could serve (the bound above); the simulator
//! uses exactly `N x U` (`fleet_lag` in its config).

use std::collections::BTreeMap;

use crate::{Error, Result};

/// A tenant's fleet account.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Account {
    counter: f64,
    weight: f64,
    /// Requests routed and not finished.
    outstanding: u32,
}

/// Weighted per-tenant service counters across the fleet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetShare {
    index: BTreeMap<String, u32>,
    names: Vec<String>,
    accounts: Vec<Account>,
    /// The counter of the last account whose backlog ended when no other was backlogged: the
    /// floor of the next account to arrive in an idle fleet.
    idle_floor: f64,
    /// How far a backlogged counter may fall behind the one charged (`None`: unbounded).
    max_lag: Option<f64>,
}

impl FleetShare {
    pub fn new() -> Self {
        Self::default()
    }

    /// The account index of `tenant`, created with weight 1 when new.
    pub fn account(&mut self, tenant: &str) -> u32 {
        if let Some(&a) = self.index.get(tenant) {
            return a;
        }
        let a = self.accounts.len() as u32;
        self.index.insert(tenant.to_string(), a);
        self.names.push(tenant.to_string());
        self.accounts.push(Account {
            counter: 0.0,
            weight: 1.0,
            outstanding: 0,
        });
        a
    }

    /// The account index of `tenant`, if it has one.
    pub fn find(&self, tenant: &str) -> Option<u32> {
        self.index.get(tenant).copied()
    }

    /// The tenant of account `a`.
    pub fn name(&self, a: u32) -> &str {
        &self.names[a as usize]
    }

    /// Sets a tenant's weight (finite, > 0) for the charges to come.
    pub fn set_weight(&mut self, tenant: &str, weight: f64) -> Result<()> {
        if !weight.is_finite() || weight <= 0.0 {
            return Err(Error::invalid(
                format!("weight[{tenant}]"),
                format!("must be finite and > 0, got {weight}"),
            ));
        }
        let a = self.account(tenant) as usize;
        self.accounts[a].weight = weight;
        Ok(())
    }

    /// Bounds how far a backlogged counter may fall behind a charged one (finite, > 0; `None`:
    /// unbounded, the default); see the module docs.
    pub fn set_max_lag(&mut self, lag: Option<f64>) -> Result<()> {
        if let Some(l) = lag.filter(|l| !l.is_finite() || *l <= 0.0) {
            let why = format!("must be finite and > 0, got {l}");
            return Err(Error::invalid("max_lag", why));
        }
        self.max_lag = lag;
        Ok(())
    }

    /// Charges `amount` weighted tokens (>= 0, what a replica served) to account `a`; under a
    /// maximum lag, a backlogged `a` lifts the backlogged counters it leaves more than the lag
    /// behind.
    #[inline]
    pub fn charge(&mut self, a: u32, amount: f64) {
        let acc = &mut self.accounts[a as usize];
        acc.counter += amount / acc.weight;
        self.lift_behind(a);
    }

    /// Under a maximum lag, with `a` backlogged: lifts every backlogged counter to at least
    /// `a`'s minus the lag.
    fn lift_behind(&mut self, a: u32) {
        let acc = self.accounts[a as usize];
        let Some(lag) = self.max_lag.filter(|_| acc.outstanding > 0) else {
            return;
        };
        let floor = acc.counter - lag;
        for other in self.accounts.iter_mut().filter(|o| o.outstanding > 0) {
            other.counter = other.counter.max(floor);
        }
    }

    /// One more request of account `a` outstanding; on the first, lifts its counter to the
    /// lowest counter of the other backlogged accounts (in an idle fleet: to the counter of the
    /// last account that left), and under a maximum lag the others to within it of `a`'s.
    pub fn begin(&mut self, a: u32) {
        let i = a as usize;
        if self.accounts[i].outstanding == 0 {
            let floor = self.min_backlogged().unwrap_or(self.idle_floor);
            let acc = &mut self.accounts[i];
            acc.counter = acc.counter.max(floor);
        }
        self.accounts[i].outstanding += 1;
        self.lift_behind(a);
    }

    /// One request of account `a` finished or was refused (never below zero).
    pub fn end(&mut self, a: u32) {
        let acc = &mut self.accounts[a as usize];
        if acc.outstanding == 0 {
            return;
        }
        acc.outstanding -= 1;
        let counter = acc.counter;
        if acc.outstanding == 0 && self.min_backlogged().is_none() {
            self.idle_floor = counter;
        }
    }

    /// The lowest counter among backlogged accounts.
    pub fn min_backlogged(&self) -> Option<f64> {
        self.accounts
            .iter()
            .filter(|a| a.outstanding > 0)
            .map(|a| a.counter)
            .min_by(f64::total_cmp)
    }

    /// Account `a`'s counter (weighted service / weight, with lifts).
    pub fn counter(&self, a: u32) -> f64 {
        self.accounts[a as usize].counter
    }

    /// Whether account `a` has requests outstanding.
    pub fn backlogged(&self, a: u32) -> bool {
        self.accounts[a as usize].outstanding > 0
    }

    /// `tenant`'s counter (0 for a tenant never seen).
    pub fn counter_of(&self, tenant: &str) -> f64 {
        self.index.get(tenant).map_or(0.0, |&a| self.counter(a))
    }

    /// `(tenant, counter)` in name order.
    pub fn counters(&self) -> impl Iterator<Item = (&str, f64)> + '_ {
        self.index
            .iter()
            .map(|(n, &a)| (n.as_str(), self.accounts[a as usize].counter))
    }

    /// Largest minus smallest counter among backlogged accounts (0 with fewer than two).
    pub fn backlogged_spread(&self) -> f64 {
        let live = self.accounts.iter().filter(|a| a.outstanding > 0);
        let (lo, hi) = live.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), a| {
            (lo.min(a.counter), hi.max(a.counter))
        });
        if hi >= lo {
            hi - lo
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_divide_by_weight_and_rebacklog_lifts_to_the_minimum() {
        let mut f = FleetShare::new();
        let (a, b) = (f.account("a"), f.account("b"));
        f.set_weight("b", 2.0).unwrap();
        f.begin(a);
        f.charge(a, 100.0);
        f.begin(b);
        assert_eq!(f.counter(b), 100.0, "lifted to a's counter");
        f.charge(b, 100.0);
        assert_eq!(f.counter(b), 150.0);
        assert_eq!(f.backlogged_spread(), 50.0);
        f.end(b);
        assert!(!f.backlogged(b));
        assert_eq!(f.backlogged_spread(), 0.0);
        // An idle fleet: the next arrival starts at the last leaver's counter.
        f.end(a);
        f.charge(a, 1000.0);
        f.begin(b);
        assert_eq!(
            f.counter(b),
            150.0,
            "a left last, at 100; b keeps its own 150"
        );
        f.end(b);
        let c = f.account("c");
        f.begin(c);
        assert_eq!(f.counter(c), 150.0);
        assert_eq!(f.counter_of("zz"), 0.0);
        assert!(f.set_weight("a", 0.0).is_err());
    }
}
