//! The core's request validation on arbitrary input: the name grammar, workloads and tenant
//! specs decoded from JSON. Each is accepted or refused with an `InvalidRequest` naming a
//! field, never a panic; an accepted name has no control character.
#![no_main]

use gpuplane_core::names;
use gpuplane_core::placement::Workload;
use gpuplane_core::Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match names::check_id("id", &text) {
        Ok(()) => assert!(!text.chars().any(char::is_control)),
        Err(e) => assert!(matches!(e, Error::InvalidRequest { .. })),
    }
    if let Ok(w) = serde_json::from_slice::<Workload>(data) {
        if let Err(e) = w.validate() {
            assert!(matches!(e, Error::InvalidRequest { .. }), "{e}");
        }
    }
});
