//! Per-window counters of a run: the report's timeline and the fairness windows.
//!
//! Time is cut into windows of `window_s` seconds. A step's busy time, KV usage and service are
//! credited to the window in which it starts (steps last milliseconds). A tenant is
//! *backlogged* in a window if it had a waiting request (arrived, not running) throughout it,
//! as in the VTC fairness bound (Sheng et al., OSDI'24), which holds over intervals in which
//! both tenants stay backlogged.

/// Counters per window (flat `window * tenants + tenant` for per-tenant ones).
#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    pub window_s: f64,
    pub tenants: usize,
    /// Index of the current (last open) window.
    cur: usize,
    /// Waiting requests per tenant right now.
    waiting: Vec<u32>,
    pub arrivals: Vec<u64>,
    pub finished: Vec<u64>,
    pub output_tokens: Vec<u64>,
    /// Sum over replicas of busy seconds.
    pub busy_s: Vec<f64>,
    /// Sum over steps of `kv_usage * duration`.
    pub kv_s: Vec<f64>,
    /// Weighted service per (window, tenant), not divided by weight.
    pub service: Vec<f64>,
    /// Backlogged throughout the window, per (window, tenant).
    pub backlogged: Vec<bool>,
}

impl Timeline {
    pub fn new(window_s: f64, tenants: usize) -> Self {
        let mut t = Self {
            window_s,
            tenants,
            waiting: vec![0; tenants],
            ..Self::default()
        };
        t.open();
        t
    }

    /// Number of windows opened.
    pub fn windows(&self) -> usize {
        self.cur + 1
    }

    fn open(&mut self) {
        self.arrivals.push(0);
        self.finished.push(0);
        self.output_tokens.push(0);
        self.busy_s.push(0.0);
        self.kv_s.push(0.0);
        self.service.extend(std::iter::repeat_n(0.0, self.tenants));
        self.backlogged.extend(self.waiting.iter().map(|&w| w > 0));
    }

    /// Opens windows up to the one holding `t`; returns its index.
    #[inline]
    pub fn at(&mut self, t: f64) -> usize {
        let w = (t / self.window_s) as usize;
        while self.cur < w {
            self.cur += 1;
            self.open();
        }
        self.cur
    }

    /// A request of `tenant` starts waiting (arrival or preemption).
    pub fn wait(&mut self, t: f64, tenant: u32) {
        self.at(t);
        self.waiting[tenant as usize] += 1;
    }

    /// A waiting request of `tenant` is admitted at `t`; a tenant left with none is no
    /// longer backlogged throughout the current window.
    pub fn unwait(&mut self, t: f64, tenant: u32) {
        let w = self.at(t);
        self.waiting[tenant as usize] -= 1;
        if self.waiting[tenant as usize] == 0 {
            self.backlogged[w * self.tenants + tenant as usize] = false;
        }
    }

    /// Credits `amount` weighted tokens of service to `tenant` at `t`.
    #[inline]
    pub fn serve(&mut self, t: f64, tenant: u32, amount: f64) {
        let w = self.at(t);
        self.service[w * self.tenants + tenant as usize] += amount;
    }

    /// A step of `dt` seconds at KV usage `kv` starts at `t`.
    pub fn step(&mut self, t: f64, dt: f64, kv: f64) {
        let w = self.at(t);
        self.busy_s[w] += dt;
        self.kv_s[w] += kv * dt;
    }

    pub fn arrive(&mut self, t: f64) {
        let w = self.at(t);
        self.arrivals[w] += 1;
    }

    pub fn finish(&mut self, t: f64) {
        let w = self.at(t);
        self.finished[w] += 1;
    }

    pub fn tokens(&mut self, t: f64, n: u64) {
        let w = self.at(t);
        self.output_tokens[w] += n;
    }
}
