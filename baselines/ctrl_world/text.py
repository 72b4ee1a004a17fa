"""Instruction -> CLIP text embedding (``text_embeds``), for both variants.

The official model tokenises with openai/clip-vit-base-patch32's tokenizer (padding to the
77-token maximum) and feeds ``CLIPTextModelWithProjection``. The small variant has no pretrained
CLIP offline, so it keeps the same class at a tiny random (frozen, shipped) size and a
deterministic word-hash tokenizer: equal instructions give equal embeddings, different ones
differ, which is all a frozen text tower contributes to an action-conditioned model.
"""

from __future__ import annotations

import re
import zlib

import torch

from baselines.ctrl_world.config import CLIPTextSize


class HashTokenizer:
    """Lower-cased words -> crc32 buckets; [bos] words [eos] padded with eos to max length."""

    def __init__(self, size: CLIPTextSize) -> None:
        self.size = size
        self.buckets = size.vocab_size - 3  # ids 1..vocab-3; bos/eos sit at the top

    def __call__(self, texts: list[str]) -> dict[str, torch.Tensor]:
        length = self.size.max_position_embeddings
        ids = torch.full((len(texts), length), self.size.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(texts), length), dtype=torch.long)
        for row, text in enumerate(texts):
            words = re.findall(r"[a-z0-9]+", text.lower())[: length - 2]
            seq = [self.size.bos_token_id] + [1 + zlib.crc32(w.encode()) % self.buckets for w in words]
            seq.append(self.size.eos_token_id)
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        return {"input_ids": ids, "attention_mask": mask}


def clip_tokenizer(model_id: str = "openai/clip-vit-base-patch32"):  # pragma: no cover - needs the Hub
    """The official tokenizer (slow, as the original loads it); cached by huggingface_hub."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_id, use_fast=False)

    def encode(texts: list[str]) -> dict[str, torch.Tensor]:
        out = tok(texts, padding="max_length", truncation=True, return_tensors="pt")
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}

    return encode
