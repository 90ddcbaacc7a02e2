//! `gpuplane.prompt_block_hashes`: converts the prompt and delegates to
//! `gpuplane_core::prefix::prompt_block_hashes`.

use pyo3::prelude::*;

use crate::errors::{invalid, to_py, unsigned32};

/// A prompt as token ids, or as text whose UTF-8 bytes are the tokens.
#[derive(FromPyObject)]
pub enum Prompt {
    Text(String),
    Ids(Vec<i64>),
}

fn token_ids(prompt: Prompt) -> PyResult<Vec<u32>> {
    match prompt {
        Prompt::Text(text) => Ok(text.bytes().map(u32::from).collect()),
        Prompt::Ids(ids) => ids
            .into_iter()
            .enumerate()
            .map(|(i, t)| unsigned32(&format!("tokens[{i}]"), t))
            .collect(),
    }
}

/// Hashes of the prompt's full KV blocks of `block_size` tokens, in order; with `parent`, of
/// blocks that follow the block hashing to it.
#[pyfunction]
#[pyo3(signature = (tokens, block_size, *, parent=None))]
pub fn prompt_block_hashes(
    py: Python<'_>,
    tokens: Prompt,
    block_size: i64,
    parent: Option<Bound<'_, PyAny>>,
) -> PyResult<Vec<u64>> {
    let block_size = unsigned32("block_size", block_size)?;
    let tokens = token_ids(tokens)?;
    let parent = parent.map(|p| block_hash("parent", &p)).transpose()?;
    py.detach(|| match parent {
        None => gpuplane_core::prefix::prompt_block_hashes(&tokens, block_size),
        Some(p) => gpuplane_core::prefix::block_hashes_after(p, &tokens, block_size),
    })
    .map_err(to_py)
}

/// A block hash (0..2**64) from Python; `InvalidRequest` naming `field` otherwise.
fn block_hash(field: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    value.extract::<u64>().map_err(|_| {
        invalid(
            field,
            format!("must be a block hash, an int in 0..2**64, got {value}"),
        )
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(prompt_block_hashes, m)?)
}
