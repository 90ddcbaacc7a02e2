"""Builds the tiny random Llama the vLLM tests and bench serve (run in the vLLM stack's python)."""

from __future__ import annotations

import sys
from pathlib import Path

CONFIG = dict(
    vocab_size=2048,
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=1024,
)


def build(path: Path) -> Path:
    """Saves the model at ``path`` once (seeded, so every build is the same model)."""
    if (path / "config.json").exists():
        return path
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**CONFIG)).save_pretrained(path)
    return path


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
