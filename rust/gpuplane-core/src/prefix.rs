//! Prompt block hashes: the identity of a prompt's full KV blocks, shared by whoever needs to
//! agree on it (a router asking which replica has a prompt's prefix cached, and an engine
//! reporting what it has cached).
//!
//! Block `i`'s hash chains block `i - 1`'s hash with block `i`'s tokens, so two prompts share
//! a block hash exactly when they share every token up to the end of that block. The mix is
//! splitmix64's finalizer: fixed, so hashes are stable across processes, runs and versions.

use crate::{Error, Result};

/// The chain's starting value (the hash "before" the first block).
const ROOT: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes of the prompt's full blocks of `block_size` tokens, in order (a partial last block
/// has none). `InvalidRequest` for a zero `block_size`.
pub fn prompt_block_hashes(tokens: &[u32], block_size: u32) -> Result<Vec<u64>> {
    block_hashes_after(ROOT, tokens, block_size)
}

/// [`prompt_block_hashes`] of blocks that follow a block whose hash is `parent`: the hashes of
/// the blocks of `tokens` as they are in any prompt whose earlier blocks hash to `parent` (an
/// engine reporting blocks cached one step at a time, after their parent).
pub fn block_hashes_after(parent: u64, tokens: &[u32], block_size: u32) -> Result<Vec<u64>> {
    if block_size == 0 {
        return Err(Error::invalid("block_size", "must be >= 1"));
    }
    let mut parent = parent;
    let hashes = tokens
        .chunks_exact(block_size as usize)
        .map(|block| {
            parent = block
                .iter()
                .fold(parent, |h, &t| mix(h ^ u64::from(t).wrapping_add(ROOT)));
            parent
        })
        .collect();
    Ok(hashes)
}

/// Engine block hashes from a trace's coarser prefix hash ids (one per `coarse_tokens`
/// tokens, each naming the whole prefix up to its end, as in the Mooncake traces): engine
/// block `j` of `block_size` tokens ends in coarse block `k = ((j + 1) x block_size - 1) /
/// coarse_tokens`, so `mix(hash_k ^ j)` names block `j`'s prefix. Blocks past the last coarse
/// hash, and a partial last block, get none. Zero sizes give none.
pub fn refine_block_hashes(
    coarse: &[u64],
    coarse_tokens: u32,
    block_size: u32,
    prompt_tokens: u32,
) -> Vec<u64> {
    if coarse.is_empty() || coarse_tokens == 0 || block_size == 0 {
        return Vec::new();
    }
    let (bs, cb) = (block_size as usize, coarse_tokens as usize);
    let full = prompt_tokens as usize / bs;
    (0..full)
        .map_while(|j| {
            coarse
                .get(((j + 1) * bs - 1) / cb)
                .map(|&h| mix(h ^ (j as u64).wrapping_mul(ROOT)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refined_hashes_share_exactly_the_coarse_shared_prefix() {
        // 512-token trace blocks, 16-token engine blocks: 32 engine blocks per trace block.
        let a = refine_block_hashes(&[7, 8], 512, 16, 1024);
        let b = refine_block_hashes(&[7, 9], 512, 16, 1000);
        assert_eq!((a.len(), b.len()), (64, 62));
        assert_eq!(a[..32], b[..32]);
        assert!(a[32..62].iter().zip(&b[32..]).all(|(x, y)| x != y));
        assert!(
            refine_block_hashes(&[7], 512, 16, 2048).len() == 32,
            "no hash past the last"
        );
        assert!(refine_block_hashes(&[7], 0, 16, 512).is_empty());
    }

    #[test]
    fn shared_prefix_shares_leading_hashes_only() {
        let a = prompt_block_hashes(&[1, 2, 3, 4, 5, 6, 7], 2).unwrap();
        let b = prompt_block_hashes(&[1, 2, 3, 4, 9, 6], 2).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(b.len(), 3);
        assert_eq!(a[..2], b[..2]);
        assert_ne!(a[2], b[2]);
    }

    #[test]
    fn a_block_hash_depends_on_all_earlier_tokens() {
        let a = prompt_block_hashes(&[1, 2, 3, 4], 2).unwrap();
        let b = prompt_block_hashes(&[9, 2, 3, 4], 2).unwrap();
        assert_ne!(a[1], b[1]);
    }

    #[test]
    fn blocks_after_a_parent_continue_its_chain() {
        let tokens: Vec<u32> = (0..12).collect();
        let whole = prompt_block_hashes(&tokens, 4).unwrap();
        let tail = block_hashes_after(whole[0], &tokens[4..], 4).unwrap();
        assert_eq!(tail, whole[1..]);
        assert!(block_hashes_after(whole[0], &tokens[4..], 0).is_err());
    }

    #[test]
    fn partial_block_has_no_hash_and_zero_block_size_is_refused() {
        assert!(prompt_block_hashes(&[1, 2, 3], 4).unwrap().is_empty());
        let e = prompt_block_hashes(&[1], 0).unwrap_err();
        assert!(e.to_string().contains("block_size"), "{e}");
    }

    #[test]
    fn hashes_are_stable() {
        // Fixed values: engines and routers in other processes and versions must agree.
        let h = prompt_block_hashes(&[0, 1], 1).unwrap();
        assert_eq!(h, prompt_block_hashes(&[0, 1, 2], 1).unwrap()[..2]);
        assert_eq!(h.len(), 2);
        assert_ne!(h[0], h[1]);
    }
}
