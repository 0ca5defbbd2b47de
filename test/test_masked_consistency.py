"""Masked image consistency (MIC) as a term of its own that DACS and both CICLD routings compose."""
from __future__ import annotations

import pytest
import torch

from cicld_core.model import CICLD, ModelConfig, segmentation_loss
from cicld_core.uda.config import ConfigError, UDAConfig, load_config
from cicld_core.uda.iteration import CONSISTENCY_TERMS
from cicld_core.uda.masked_consistency import block_mask, masked_consistency_loss, masked_target_images
from cicld_core.uda.teacher import PseudoLabels
from test_routing import CONFIG, SEG, reach, step
from tiny import TINY

MIC = {"pseudo_label_threshold": 1e-3, "lambda_masked_consistency": 1.0, "masked_consistency_block": 8}


def test_block_mask_blanks_whole_blocks_at_about_the_ratio_and_is_seeded():
    mask = block_mask(4, 100, 120, 16, 0.7, torch.Generator().manual_seed(0))
    assert mask.shape == (4, 1, 100, 120) and set(mask.unique().tolist()) <= {0.0, 1.0}
    # every 16x16 block (cut at the frame's edge) is all kept or all blanked
    for y in range(0, 100, 16):
        for x in range(0, 120, 16):
            block = mask[:, :, y:y + 16, x:x + 16]
            assert ((block == block[:, :, :1, :1]).all())
    blocks = mask[:, 0, ::16, ::16]  # one pixel per block: 4 x 7 x 8 = 224 draws
    assert 0.15 < blocks.mean().item() < 0.45  # kept share 0.3 in expectation
    assert torch.equal(mask, block_mask(4, 100, 120, 16, 0.7, torch.Generator().manual_seed(0)))
    assert not torch.equal(mask, block_mask(4, 100, 120, 16, 0.7, torch.Generator().manual_seed(1)))
    assert block_mask(2, 32, 32, 8, 0.0).all()  # ratio 0 keeps everything


def test_masked_images_are_zero_in_the_blanked_blocks_and_augmented_elsewhere():
    images = torch.randn(2, 3, 32, 64, generator=torch.Generator().manual_seed(0))
    config = UDAConfig(masked_consistency_block=8, masked_consistency_ratio=0.5, color_jitter=0.0, blur=False)
    masked = masked_target_images(images, config, (0.5,) * 3, (0.25,) * 3, torch.Generator().manual_seed(1))
    keep = block_mask(2, 32, 64, 8, 0.5, torch.Generator().manual_seed(1)).expand_as(images).bool()
    assert torch.equal(masked[keep], images[keep])  # no jitter, no blur: the kept pixels are the input
    assert (masked[~keep] == 0).all() and (~keep).any()


def test_the_term_is_the_students_ce_on_the_masked_target_against_the_clean_pseudo_labels():
    torch.manual_seed(0)
    model = CICLD(ModelConfig(**TINY)).eval()
    images = torch.randn(2, 3, 32, 64, generator=torch.Generator().manual_seed(1))
    pseudo = PseudoLabels(labels=torch.randint(0, 19, (2, 32, 64), generator=torch.Generator().manual_seed(2)),
                          pixel_weight=torch.rand(2, 32, 64, generator=torch.Generator().manual_seed(3)),
                          confident_share=torch.ones(2))
    config = UDAConfig(**MIC)
    loss = masked_consistency_loss(model, images, pseudo, config, model.config.mean, model.config.std,
                                   torch.Generator().manual_seed(4))
    masked = masked_target_images(images, config, model.config.mean, model.config.std,
                                  torch.Generator().manual_seed(4))
    encoded = model.encode(masked)
    expected = segmentation_loss(model.decode(encoded.z0, encoded.skips), pseudo.labels, pseudo.pixel_weight)
    torch.testing.assert_close(loss, expected)
    unmasked = model.encode(images)
    assert loss.item() != segmentation_loss(model.decode(unmasked.z0, unmasked.skips), pseudo.labels,
                                            pseudo.pixel_weight).item()


@pytest.mark.parametrize("method", [{"mode": "dacs"}, {"routing": "decoupled"},
                                    {"routing": "paper", "condition_on": "mix", "discriminator_input": "z0_hat"}])
def test_any_method_composes_the_term_without_changing_its_other_terms(method):
    _, without = step(UDAConfig(**method, pseudo_label_threshold=1e-3))
    model, losses = step(UDAConfig(**method, **MIC))
    assert set(losses.terms) == set(without.terms) | {"masked_consistency"}
    for name, term in without.terms.items():  # drawn last: every other term is what it was
        assert losses.terms[name].item() == term.item(), name
    nonzero, zero = reach(model, losses.terms["masked_consistency"])
    assert nonzero == SEG and {"eps", "f_mask", "f_dis"} <= zero


def test_both_consistency_terms_compose_in_one_step():
    model, losses = step(UDAConfig(**MIC, lambda_latent_consistency=1.0))
    assert {"latent_consistency", "masked_consistency"} <= set(losses.terms)
    assert [name for name, _, _ in CONSISTENCY_TERMS] == ["latent_consistency", "masked_consistency"]


def test_the_default_config_has_no_masked_consistency_term():
    assert UDAConfig().lambda_masked_consistency == 0
    _, losses = step(UDAConfig(mode="dacs"))
    assert "masked_consistency" not in losses.terms


def test_masked_consistency_keys_are_checked(synth_root):
    base = [f"data.source.root={synth_root / 'source'}", f"data.target.root={synth_root / 'target'}",
            f"data.val.root={synth_root / 'target'}"]
    config = load_config(CONFIG, [*base, "uda.lambda_masked_consistency=1"])
    assert (config.uda.lambda_masked_consistency, config.uda.masked_consistency_ratio,
            config.uda.masked_consistency_block) == (1.0, 0.7, 16)
    for override, message in (("uda.lambda_masked_consistency=-1", "lambda_masked_consistency must be at least 0"),
                              ("uda.masked_consistency_ratio=1", r"masked_consistency_ratio must be in \[0, 1\)"),
                              ("uda.masked_consistency_block=0", "masked_consistency_block must be at least 1")):
        with pytest.raises(ConfigError, match=message):
            load_config(CONFIG, [*base, override])
