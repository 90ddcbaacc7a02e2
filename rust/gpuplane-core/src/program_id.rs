//! An agent program's id: the one string a user gives a program everywhere (admission's
//! `ProgramCall.workflow_id`, routing's `workflow_id`, vLLM's `extra_args.workflow`), and the
//! integer key the router and the batch schedulers keep per-program state under.
//!
//! Admission keys programs by the string itself (its ledger checks order and tenant). The
//! router and schedulers key them by a `u64`: fixed-size keys keep their per-program maps
//! small and let traces and the simulator name programs by number. [`program_key`] is the one
//! mapping from the string to that key; nothing else may hash a program id.
//!
//! The key is scoped by tenant: two tenants' programs of the same id have different keys, so
//! one tenant's routes cannot move another's program. The hash is fixed (FNV-1a 64 over the
//! tenant's length as 8 little-endian bytes, the tenant's bytes and the id's bytes, then
//! splitmix64's finalizer, top bit cleared so that the key fits a signed 64-bit integer), so
//! keys are stable across processes, platforms and versions. It is not collision-resistant
//! against chosen ids; a collision only shares a routing preference (never admission).

use crate::names;
use crate::Result;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The largest key: keys fit in 63 bits.
pub const MAX_PROGRAM_KEY: u64 = i64::MAX as u64;

/// The key of program `workflow` of `tenant` (see the module docs). `InvalidRequest` naming
/// `workflow` unless the id follows the id grammar ([`names::check_id`]).
pub fn program_key(tenant: &str, workflow: &str) -> Result<u64> {
    names::check_id("workflow", workflow)?;
    let len = (tenant.len() as u64).to_le_bytes();
    let h = [&len[..], tenant.as_bytes(), workflow.as_bytes()]
        .iter()
        .flat_map(|part| part.iter())
        .fold(FNV_OFFSET, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
        });
    Ok(finalize(h) & MAX_PROGRAM_KEY)
}

/// splitmix64's finalizer: spreads FNV's low-entropy high bits.
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_are_stable() {
        // Pinned: a change here re-keys every program a running fleet remembers.
        assert_eq!(
            program_key("default", "task-42").unwrap(),
            KEY_DEFAULT_TASK_42
        );
        assert_eq!(program_key("", "7").unwrap(), KEY_EMPTY_7);
    }

    const KEY_DEFAULT_TASK_42: u64 = 1_639_338_491_676_858_830;
    const KEY_EMPTY_7: u64 = 2_711_847_824_755_602_988;

    #[test]
    fn the_tenant_scopes_the_key() {
        let a = program_key("alice", "task").unwrap();
        assert_ne!(a, program_key("bob", "task").unwrap());
        // The tenant's length keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            program_key("ab", "c").unwrap(),
            program_key("a", "bc").unwrap()
        );
    }

    #[test]
    fn bad_ids_are_refused_naming_the_field() {
        let long = "x".repeat(names::MAX_ID_BYTES + 1);
        for bad in ["", "a\nb", " lead", long.as_str()] {
            let err = program_key("t", bad).unwrap_err();
            assert!(err.to_string().contains("workflow"), "{err}");
        }
    }

    proptest! {
        #[test]
        fn keys_fit_63_bits_and_are_a_function(tenant in "[a-z]{0,8}", id in "[a-z0-9-]{1,40}") {
            let k = program_key(&tenant, &id).unwrap();
            prop_assert!(k <= MAX_PROGRAM_KEY);
            prop_assert_eq!(k, program_key(&tenant, &id).unwrap());
        }
    }
}
