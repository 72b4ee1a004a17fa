"""The full-size architecture reproduces the committed key manifest, on the meta device."""

from __future__ import annotations

import json

import torch

from baselines.ctrl_world.manifest import MANIFEST_PATH, PREFIXES, build_meta, key_shapes


def test_full_size_matches_manifest_without_allocating() -> None:
    model = build_meta()
    tensors = list(model.state_dict().values())
    assert tensors and all(t.is_meta for t in tensors)  # nothing was allocated
    expected = json.loads(MANIFEST_PATH.read_text())
    got = key_shapes(model)
    assert list(got) == list(expected["keys"])  # same names, same order
    assert got == expected["keys"]  # same shapes
    assert expected["num_keys"] == len(got) == 2525


def test_manifest_matches_the_published_module_layout() -> None:
    keys = json.loads(MANIFEST_PATH.read_text())["keys"]
    assert {k.split(".")[0] + "." for k in keys} == set(PREFIXES)
    # facts read from the original code (Action_encoder2, SVD UNet defaults, CLIP towers)
    assert keys["action_encoder.action_encode.0.weight"] == [1024, 7]
    assert keys["action_encoder.action_encode.2.weight"] == [1024, 1024]
    assert keys["action_encoder.action_encode.4.weight"] == [1024, 1024]
    assert keys["unet.conv_in.weight"] == [320, 8, 3, 3]
    assert keys["unet.conv_out.weight"] == [4, 320, 3, 3]
    assert keys["unet.add_embedding.linear_1.weight"] == [1280, 768]
    assert keys["unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"] == [320, 1024]
    assert keys["text_encoder.text_projection.weight"] == [512, 512]
    assert keys["text_encoder.text_model.embeddings.token_embedding.weight"] == [49408, 512]
    assert keys["image_encoder.visual_projection.weight"] == [1024, 1280]
    assert keys["vae.encoder.conv_in.weight"] == [128, 3, 3, 3]
    assert not any("position_ids" in k for k in keys)  # non-persistent buffers are not saved
    params = sum(torch.Size(s).numel() for s in keys.values())
    assert 2.2e9 < params < 2.4e9  # ~9 GB in fp32, as the published file
