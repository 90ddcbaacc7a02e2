//! `Cluster::restore` on arbitrary bytes: an error or a cluster, never a panic; a restored
//! cluster snapshots to bytes that restore to the same snapshot.
#![no_main]

use gpuplane_core::placement::Cluster;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cluster) = Cluster::restore(data) {
        let again = cluster.snapshot();
        let restored = Cluster::restore(&again).expect("a fresh snapshot restores");
        assert_eq!(restored.snapshot(), again);
    }
});
