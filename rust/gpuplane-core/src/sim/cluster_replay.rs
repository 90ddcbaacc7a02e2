//! A cluster trace through the placement engine, with departures.
//!
//! Pods arrive in order of (arrival, index) and are placed with the cluster's policy; a pod
//! that does not fit fails and is not retried. A placed pod with a departure time is released
//! then. At equal times departures go first, so capacity freed at `t` serves arrivals at `t`.
//! The allocation ratio (share of GPU compute allocated) and the fragmentation ratio are
//! sampled at evenly spaced times from the first to the last arrival; the replay stops at the
//! last arrival (later departures change nothing that is reported), so the final figures are
//! the cluster's state then.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::placement::{Cluster, Workload};

/// One pod of a cluster trace.
#[derive(Debug, Clone, PartialEq)]
pub struct PodEvent {
    /// What to place (its id must be unique in the trace).
    pub workload: Workload,
    /// Arrival (creation) time, seconds (finite).
    pub arrival: f64,
    /// Departure (deletion) time, seconds, after the arrival; `None`: never departs.
    pub departure: Option<f64>,
}

/// The cluster's state at one time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSample {
    pub time_s: f64,
    pub running: u64,
    pub allocation_ratio: f64,
    pub fragmentation_ratio: f64,
}

/// The outcome of [`replay_cluster`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterReplay {
    pub arrived: u64,
    pub placed: u64,
    pub failed: u64,
    pub departed: u64,
    /// Compute allocation ratio at the end.
    pub allocation_ratio: f64,
    pub fragmentation_ratio: f64,
    /// Largest sampled allocation ratio.
    pub peak_allocation_ratio: f64,
    /// Mean of the samples (they are evenly spaced in time, so this is the time average).
    pub mean_allocation_ratio: f64,
    pub samples: Vec<ClusterSample>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Depart,
    Arrive,
}

/// Replays `pods` on `cluster`, taking `samples` samples (at least 2) over the span.
pub fn replay_cluster(
    cluster: &mut Cluster,
    pods: Vec<PodEvent>,
    samples: usize,
) -> Result<ClusterReplay> {
    let events = event_order(&pods)?;
    let (start, end) = span(&pods);
    let samples = samples.max(2);
    let step = (end - start) / (samples - 1) as f64;
    let mut out = ClusterReplay::empty(pods.len() as u64);
    let mut placed = vec![false; pods.len()];
    let mut next_sample = 0usize;
    for (t, kind, i) in events {
        if t > end {
            break;
        }
        while next_sample < samples && start + step * (next_sample as f64) < t {
            out.sample(cluster, start + step * next_sample as f64);
            next_sample += 1;
        }
        match kind {
            Kind::Depart if placed[i] => {
                cluster.release(&pods[i].workload.id)?;
                out.departed += 1;
            }
            Kind::Depart => {}
            Kind::Arrive => placed[i] = cluster.place(pods[i].workload.clone(), None).is_ok(),
        }
    }
    while next_sample < samples {
        out.sample(cluster, start + step * next_sample as f64);
        next_sample += 1;
    }
    out.finish(cluster, &placed);
    Ok(out)
}

/// Every event, sorted by (time, departures first, index).
fn event_order(pods: &[PodEvent]) -> Result<Vec<(f64, Kind, usize)>> {
    let mut events = Vec::with_capacity(pods.len() * 2);
    for (i, p) in pods.iter().enumerate() {
        if !p.arrival.is_finite() {
            return Err(Error::invalid(format!("arrival[{i}]"), "must be finite"));
        }
        events.push((p.arrival, Kind::Arrive, i));
        if let Some(d) = p.departure {
            if !d.is_finite() || d < p.arrival {
                return Err(Error::invalid(
                    format!("departure[{i}]"),
                    "must be finite and >= arrival",
                ));
            }
            events.push((d, Kind::Depart, i));
        }
    }
    events.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then((a.1 == Kind::Arrive).cmp(&(b.1 == Kind::Arrive)))
            .then(a.2.cmp(&b.2))
    });
    Ok(events)
}

fn span(pods: &[PodEvent]) -> (f64, f64) {
    let times = pods.iter().map(|p| p.arrival);
    let (lo, hi) = times.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| {
        (lo.min(t), hi.max(t))
    });
    if lo.is_finite() {
        (lo, hi)
    } else {
        (0.0, 0.0)
    }
}

impl ClusterReplay {
    fn empty(arrived: u64) -> Self {
        Self {
            arrived,
            placed: 0,
            failed: 0,
            departed: 0,
            allocation_ratio: 0.0,
            fragmentation_ratio: 0.0,
            peak_allocation_ratio: 0.0,
            mean_allocation_ratio: 0.0,
            samples: Vec::new(),
        }
    }

    fn sample(&mut self, cluster: &Cluster, time_s: f64) {
        let s = cluster.stats();
        self.samples.push(ClusterSample {
            time_s,
            running: u64::from(s.workloads),
            allocation_ratio: s.compute_allocation_ratio,
            fragmentation_ratio: s.fragmentation_ratio,
        });
    }

    fn finish(&mut self, cluster: &Cluster, placed: &[bool]) {
        let s = cluster.stats();
        self.placed = placed.iter().filter(|&&p| p).count() as u64;
        self.failed = self.arrived - self.placed;
        self.allocation_ratio = s.compute_allocation_ratio;
        self.fragmentation_ratio = s.fragmentation_ratio;
        let ratios = self.samples.iter().map(|s| s.allocation_ratio);
        self.peak_allocation_ratio = ratios.clone().fold(0.0, f64::max);
        self.mean_allocation_ratio = ratios.sum::<f64>() / self.samples.len().max(1) as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{GpuSpec, NodeSpec};
    use crate::placement::PolicyKind;

    fn pod(id: &str, arrival: f64, departure: Option<f64>) -> PodEvent {
        let mut workload = Workload::new(id, 0, 1);
        workload.compute_milli = 1000;
        PodEvent {
            workload,
            arrival,
            departure,
        }
    }

    #[test]
    fn departures_free_room_for_later_arrivals() {
        let mut c = Cluster::new(PolicyKind::BestFit, 0);
        let gpu = GpuSpec {
            model: "A".into(),
            memory_mib: 1024,
            compute_milli: 1000,
            topology_group: None,
            id: None,
        };
        let node = NodeSpec {
            name: "n".into(),
            gpus: vec![gpu],
            cpu_milli: 1 << 20,
            memory_mib: 1 << 20,
            labels: Default::default(),
        };
        c.add_node(node).unwrap();
        let pods = vec![
            pod("a", 0.0, Some(10.0)),
            pod("b", 5.0, None),
            pod("c", 10.0, None),
        ];
        let r = replay_cluster(&mut c, pods, 3).unwrap();
        assert_eq!((r.arrived, r.placed, r.failed, r.departed), (3, 2, 1, 1));
        assert_eq!(r.allocation_ratio, 1.0);
    }
}
