//! `gpuplane.prompt_block_hashes`: converts the prompt and delegates to
//! `gpuplane_core::prefix::prompt_block_hashes`.

use pyo3::prelude::*;

use crate::errors::{to_py, unsigned32};

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

/// Hashes of the prompt's full KV blocks of `block_size` tokens, in order.
#[pyfunction]
pub fn prompt_block_hashes(py: Python<'_>, tokens: Prompt, block_size: i64) -> PyResult<Vec<u64>> {
    let block_size = unsigned32("block_size", block_size)?;
    let tokens = token_ids(tokens)?;
    py.detach(|| gpuplane_core::prefix::prompt_block_hashes(&tokens, block_size))
        .map_err(to_py)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(prompt_block_hashes, m)?)
}
