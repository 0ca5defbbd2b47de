"""The UDA trainer: which loss trains what, EMA, ClassMix, pseudo-labels, exact resume,
two-process training, and clear failures."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cicld_core.labels import IGNORE_INDEX
from cicld_core.model import load_model
from cicld_core.uda.adabn import reestimate_norm_statistics, target_batch_statistics
from cicld_core.uda.classmix import class_masks, classmix, colour_jitter, gaussian_blur
from cicld_core.uda.config import ConfigError, load_config
from cicld_core.uda.iteration import adaptation_losses
from cicld_core.uda.optim import lr_factor
from cicld_core.uda.teacher import ema_alpha, make_ema_model, pseudo_labels, update_ema
from cicld_core.uda.trainer import Trainer
from tiny import TINY_RUN, tiny_overrides

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config/uda/synth_cicld.yaml"
TINY_MODEL = tiny_overrides()


def overrides(root: Path, *extra: str) -> list[str]:
    return [f"data.source.root={root / 'source'}", f"data.target.root={root / 'target'}",
            f"data.val.root={root / 'target'}", *TINY_RUN, *TINY_MODEL, *extra]


def trainer(root: Path, work_dir: Path, *extra: str, resume: bool = False) -> Trainer:
    return Trainer(load_config(CONFIG, overrides(root, *extra)), work_dir, resume=resume, command="test")


def next_batches(t: Trainer, iteration: int) -> dict:
    from cicld_core.data import collate
    return {name: collate([samples[(iteration, k)] for k in range(2)]) for name, samples in t.streams.items()}


# ---- which loss trains what ----------------------------------------------------------

def test_each_adaptation_term_reaches_exactly_its_modules(synth_root, tmp_path):
    t = trainer(synth_root, tmp_path)
    batches = next_batches(t, 0)
    generator = torch.Generator().manual_seed(0)
    losses = adaptation_losses(t.model, t.ema_model, batches["source"]["image"], batches["source"]["label"],
                               batches["target"]["image"], t.config.uda, t.model.config.mean, t.model.config.std,
                               generator, generator)
    assert set(losses.terms) == {"seg_source", "seg_mixed", "ldm", "adv", "dec_denoised"}
    expected = {"seg_source": {"encoder", "decoder"}, "seg_mixed": {"encoder", "decoder"},
                "ldm": {"denoiser", "mask_encoder"}, "adv": {"denoiser", "mask_encoder"},
                "dec_denoised": {"encoder", "decoder"}}
    for name, term in losses.terms.items():
        t.model.zero_grad(set_to_none=True)
        term.backward(retain_graph=True)
        reached = {n.split(".")[0] for n, p in t.model.named_parameters() if p.grad is not None and p.grad.any()}
        assert reached == expected[name], name
    assert [b.eps_hat.shape[0] for b in losses.adversarial_branches] == [2, 2, 2]
    assert losses.adversarial_domains == [0, 1, 2]
    assert all(p.requires_grad for p in t.model.discriminator.parameters()), "f_dis must be unfrozen again"


def changed(before: dict, module: torch.nn.Module) -> set[str]:
    return {name.split(".")[0] for name, value in module.state_dict().items()
            if value.is_floating_point() and not torch.equal(before[name], value)}


@pytest.mark.parametrize("extra,updated", [
    ((), {"encoder", "decoder", "denoiser", "mask_encoder", "discriminator"}),
    (("uda.adversarial=none",), {"encoder", "decoder", "denoiser", "mask_encoder"}),
    (("uda.mode=source_only",), {"encoder", "decoder", "denoiser", "mask_encoder"}),
    (("uda.adversarial=2class",), {"encoder", "decoder", "denoiser", "mask_encoder", "discriminator"}),
    (("uda.routing=paper", "uda.discriminator_input=z0_hat"),
     {"encoder", "decoder", "denoiser", "mask_encoder", "discriminator"}),
    (("uda.mode=dacs", "run.eval_steps=0"), {"encoder", "decoder"}),  # no diffusion, no discriminator
])
def test_one_iteration_updates_the_right_modules_and_the_ema(synth_root, tmp_path, extra, updated):
    t = trainer(synth_root, tmp_path, *extra)
    model_before = {k: v.clone() for k, v in t.model.state_dict().items()}
    ema_before = {k: v.clone() for k, v in t.ema_model.state_dict().items()}
    values = t.train_step(next_batches(t, 0))
    assert changed(model_before, t.model) == updated
    # alpha = min(1 - 1/(0+1), 0.999) = 0 at the first iteration: the EMA copies the model's weights
    for name, value in t.ema_model.named_parameters():
        torch.testing.assert_close(value, t.model.state_dict()[name])
    assert changed(ema_before, t.ema_model) >= updated - {"discriminator"}
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values())
    accuracies = {k for k in values if k.startswith("dis_acc/")}
    if "discriminator" in updated:  # the discriminator's accuracy per domain is logged with the losses
        assert accuracies == {f"dis_acc/{d}" for d in (("source", "target") if "uda.adversarial=2class" in extra
                                                          else ("source", "mixed", "target"))}
    else:
        assert not accuracies
    if "uda.adversarial=2class" in extra:
        assert t.model.discriminator.head[-1].out_features == 2


# ---- pieces --------------------------------------------------------------------------

def test_ema_math():
    assert ema_alpha(0, 0.999) == 0.0 and ema_alpha(1, 0.999) == 0.5 and ema_alpha(10 ** 6, 0.999) == 0.999
    model = torch.nn.BatchNorm1d(3)
    ema = make_ema_model(model)
    with torch.no_grad():
        model.weight.fill_(2.0)
        model.running_mean.fill_(5.0)
    old = ema.weight.clone()
    alpha = update_ema(ema, model, iteration=3, max_alpha=0.999)
    assert alpha == 0.75
    torch.testing.assert_close(ema.weight, 0.75 * old + 0.25 * model.weight)
    torch.testing.assert_close(ema.running_mean, model.running_mean)  # buffers are copied
    assert not any(p.requires_grad for p in ema.parameters())


def test_classmix_pastes_half_the_source_classes_with_the_right_weights():
    source_labels = torch.tensor([[[0, 0, 1, 1], [2, 2, 3, IGNORE_INDEX]], [[5, 5, 5, 5], [5, 5, 6, 6]]])
    target_labels = torch.full_like(source_labels, 9)
    target_weight = torch.full(source_labels.shape, 0.3)
    generator = torch.Generator().manual_seed(0)
    masks = class_masks(source_labels, generator)
    for labels, mask in zip(source_labels, masks):
        present = set(labels[labels != IGNORE_INDEX].tolist())
        pasted = set(labels[mask].tolist())
        assert len(pasted) == (len(present) + 1) // 2 and pasted <= present
        assert torch.equal(mask, torch.isin(labels, torch.tensor(sorted(pasted))))  # whole classes
    source_images, target_images = torch.ones(2, 3, 2, 4), torch.zeros(2, 3, 2, 4)
    mixed = classmix(source_images, source_labels, target_images, target_labels, target_weight,
                     torch.Generator().manual_seed(0))
    assert torch.equal(mixed.masks, masks)
    assert torch.equal(mixed.images[:, 0].bool(), masks)
    assert torch.equal(mixed.labels, torch.where(masks, source_labels, target_labels))
    assert torch.equal(mixed.pixel_weight, torch.where(masks, 1.0, 0.3))


def test_strong_augmentation_keeps_shapes_and_changes_pixels():
    images = torch.randn(2, 3, 16, 16)
    generator = torch.Generator().manual_seed(0)
    jittered = colour_jitter(images, (0.5,) * 3, (0.25,) * 3, 0.3, generator)
    assert jittered.shape == images.shape and not torch.allclose(jittered, images)
    assert torch.equal(colour_jitter(images, (0.5,) * 3, (0.25,) * 3, 0.0), images)
    blurred = gaussian_blur(images, torch.Generator().manual_seed(0), probability=1.0)
    assert blurred.shape == images.shape and blurred.std() < images.std()


class FixedLogits(torch.nn.Module):
    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_the_ema_model_can_keep_its_own_norm_statistics_from_target_batches():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.BatchNorm2d(2))
    ema = make_ema_model(model)
    target = torch.randn(4, 3, 5, 5) + 3.0
    with target_batch_statistics(ema):
        assert ema[1].training and not ema[0].training
        ema(target)
    assert not ema[1].training, "the norm layers must be back in eval mode"
    batch_mean = ema[0](target).mean((0, 2, 3))
    torch.testing.assert_close(ema[1].running_mean, 0.1 * batch_mean)  # momentum 0.1 from 0
    kept = ema[1].running_mean.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(7.0)
    update_ema(ema, model, iteration=1, max_alpha=0.999, copy_buffers=False)
    torch.testing.assert_close(ema[1].running_mean, kept)
    torch.testing.assert_close(ema[0].weight, 0.5 * (model[0].weight + model[0].weight - 1.0))
    with target_batch_statistics(ema, enabled=False):
        ema(target)
    torch.testing.assert_close(ema[1].running_mean, kept)


def test_adabn_replaces_the_statistics_by_the_target_average():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.BatchNorm2d(2)).eval()
    with torch.no_grad():
        model[1].running_mean.fill_(9.0)
    batches = [torch.randn(2, 3, 4, 4) + shift for shift in (1.0, 3.0)]
    assert reestimate_norm_statistics(model, batches) == 2
    expected = torch.stack([model[0](b).mean((0, 2, 3)) for b in batches]).mean(0)
    torch.testing.assert_close(model[1].running_mean, expected)
    assert model[1].momentum == 0.1 and not model[1].training
    with pytest.raises(ValueError, match="no target batches"):
        reestimate_norm_statistics(model, [])
    with pytest.raises(ValueError, match="no BatchNorm layers"):
        reestimate_norm_statistics(torch.nn.Conv2d(3, 2, 1), batches)


def test_an_iteration_with_target_statistics_leaves_the_students_out_of_the_ema(synth_root, tmp_path):
    t = trainer(synth_root, tmp_path, "uda.ema_bn_statistics=target")
    t.train_step(next_batches(t, 0))
    model_state, ema_state = t.model.state_dict(), t.ema_model.state_dict()
    norm_buffers = {name for name, _ in t.ema_model.named_buffers()}
    assert any("running_mean" in name for name in norm_buffers)
    for name, value in ema_state.items():
        if name in norm_buffers and "num_batches" not in name:
            assert not torch.equal(value, model_state[name]), name
        elif name not in norm_buffers:
            torch.testing.assert_close(value, model_state[name])  # alpha 0 at the first iteration
    assert not any(m.training for m in t.ema_model.modules())


def test_pseudo_label_weight_is_the_confident_share_and_margins_are_ignored():
    logits = torch.zeros(1, 3, 4, 2)
    logits[0, 1, :2] = 10.0  # rows 0-1: confident class 1; rows 2-3: uniform
    pseudo = pseudo_labels(FixedLogits(logits), torch.zeros(1, 3, 4, 2), threshold=0.968)
    assert pseudo.confident_share.item() == 0.5
    assert torch.equal(pseudo.pixel_weight, torch.full((1, 4, 2), 0.5))
    assert (pseudo.labels[0, :2] == 1).all()
    margin = pseudo_labels(FixedLogits(logits), torch.zeros(1, 3, 4, 2), threshold=0.968, ignore_top=1,
                           ignore_bottom=1)
    assert (margin.labels[0, 0] == IGNORE_INDEX).all() and (margin.labels[0, 3] == IGNORE_INDEX).all()
    assert margin.confident_share.item() == 0.5  # row 1 confident, row 2 not, of the 2 rows inside
    assert (margin.pixel_weight[0, 0] == 0).all() and (margin.pixel_weight[0, 1] == 0.5).all()


def test_pixel_weighting_keeps_only_confident_pixels():
    logits = torch.zeros(1, 3, 4, 2)
    logits[0, 1, :2] = 10.0
    pseudo = pseudo_labels(FixedLogits(logits), torch.zeros(1, 3, 4, 2), threshold=0.968, weighting="pixel")
    assert pseudo.confident_share.item() == 0.5
    assert torch.equal(pseudo.pixel_weight[0], torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]))
    margin = pseudo_labels(FixedLogits(logits), torch.zeros(1, 3, 4, 2), threshold=0.968, ignore_top=1,
                           weighting="pixel")
    assert margin.pixel_weight[0, 0].eq(0).all() and margin.pixel_weight[0, 1].eq(1).all()


def test_learning_rate_warms_up_then_decays():
    assert lr_factor(0, 100, 10, 1.0) == pytest.approx(1e-6)
    assert lr_factor(5, 100, 10, 1.0) == pytest.approx(0.5, abs=1e-5)
    assert lr_factor(10, 100, 10, 1.0) == 1.0
    assert lr_factor(55, 100, 10, 1.0) == pytest.approx(0.5)


# ---- runs, resume, several processes -------------------------------------------------

def weights(t: Trainer) -> dict[str, torch.Tensor]:
    return {f"m.{k}": v for k, v in t.model.state_dict().items()} | {
        f"e.{k}": v for k, v in t.ema_model.state_dict().items()}


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(synth_root, tmp_path):
    straight = trainer(synth_root, tmp_path / "straight")
    straight.run()
    first = trainer(synth_root, tmp_path / "split")
    first.run(pause_after=2)
    assert (tmp_path / "split/latest.safetensors").is_file()
    second = trainer(synth_root, tmp_path / "split", resume=True)
    assert second.iteration == 2
    second.run()
    a, b = weights(straight), weights(second)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
    # the run leaves the promised files, and best.safetensors loads as a plain model
    for name in ("best.safetensors", "latest.safetensors", "metrics.jsonl", "curves.png", "report.md",
                 "config.yaml", "command.txt"):
        assert (tmp_path / "straight" / name).is_file(), name
    model, metadata = load_model(tmp_path / "straight/best.safetensors")
    assert metadata["provenance"]["command"] == "test" and model.config.latent_channels == 8
    # both record the size the run validated at (the validation frames of synth_root), for the node to follow
    assert metadata["input_size"] == [64, 32]
    assert load_model(tmp_path / "straight/latest.safetensors")[1]["input_size"] == [64, 32]


def test_a_warm_start_begins_every_row_from_the_source_runs_scored_weights(synth_root, tmp_path):
    source = trainer(synth_root, tmp_path / "source", "uda.mode=source_only", "run.iters=2")
    source.run()
    scored = {k: v.clone() for k, v in source.ema_model.state_dict().items()}
    init = f"run.init_checkpoint={tmp_path / 'source/latest.safetensors'}"
    # a different seed draws different fresh weights; the warm start replaces them all, in student and teacher
    for extra in (("uda.mode=dacs", "run.seed=3", "run.eval_steps=0"), ("uda.adversarial=2class", "run.seed=4")):
        warm = trainer(synth_root, tmp_path / "_".join(extra), init, *extra)
        fresh_discriminator = "uda.adversarial=2class" in extra  # 2 domains: the file's 3-way head does not fit
        for model in (warm.model, warm.ema_model):
            for name, value in model.state_dict().items():
                if name.startswith("discriminator.") and fresh_discriminator:
                    continue
                torch.testing.assert_close(value, scored[name], rtol=0, atol=0, msg=name)
        warm.run()  # and it trains from there
        assert (tmp_path / "_".join(extra) / "latest.safetensors").is_file()
    with pytest.raises(ConfigError, match="run.init_checkpoint: no file at"):
        load_config(CONFIG, overrides(synth_root, f"run.init_checkpoint={tmp_path / 'missing.safetensors'}"))
    from cicld_core.model import CheckpointError
    with pytest.raises(CheckpointError, match=r"different model config \(latent_channels\)"):
        trainer(synth_root, tmp_path / "other", init, "model.latent_channels=16")


@pytest.mark.parametrize("ema_bn_statistics", ["student", "target"])
def test_two_processes_train_and_agree(synth_root, tmp_path, ema_bn_statistics):
    result = tmp_path / "ddp.json"
    port = 29500 + (os.getpid() + (ema_bn_statistics == "target") * 7) % 1000
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(port), str(REPO / "test/helpers/ddp_check.py"), str(CONFIG), str(tmp_path / "run"), str(result),
               *overrides(synth_root, "run.iters=2", f"uda.ema_bn_statistics={ema_bn_statistics}")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240,
                          env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(result.read_text())
    assert figures == {"world_size": 2, "agree": {"model": True, "ema": True}, "iteration": 2}
    assert (tmp_path / "run/latest.safetensors").is_file()


# ---- failures --------------------------------------------------------------------------

def run_cli(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train/uda.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_bad_configs_stop_at_start_up_naming_the_problem(synth_root, tmp_path):
    with pytest.raises(ConfigError, match="unknown key run.iter;"):
        load_config(CONFIG, ["run.iter=5"])
    with pytest.raises(ConfigError, match="uda.mode must be one of"):
        load_config(CONFIG, overrides(synth_root, "uda.mode=oracle"))
    with pytest.raises(ConfigError, match="uda.pseudo_label_weighting must be one of share, pixel"):
        load_config(CONFIG, overrides(synth_root, "uda.pseudo_label_weighting=soft"))
    with pytest.raises(ConfigError, match="uda.mode must be one of cicld, dacs, source_only, target_oracle"):
        load_config(CONFIG, overrides(synth_root, "uda.mode=daformer"))
    with pytest.raises(ConfigError, match="uda.ema_bn_statistics must be one of student, target"):
        load_config(CONFIG, overrides(synth_root, "uda.ema_bn_statistics=source"))
    with pytest.raises(ConfigError, match="model: unknown model config keys"):
        load_config(CONFIG, overrides(synth_root, "model.latent=3"))
    with pytest.raises(ConfigError, match="config file .* not found"):
        load_config(tmp_path / "nope.yaml")
    done = run_cli("--config", str(CONFIG), "--work-dir", str(tmp_path / "w"),
                   *[a for o in overrides(synth_root, f"data.target.root={tmp_path / 'missing'}") for a in ("--set", o)])
    assert done.returncode == 2 and "missing" in done.stderr and "Traceback" not in done.stderr


def test_resume_refuses_an_incompatible_checkpoint_and_a_reused_work_dir(synth_root, tmp_path):
    trainer(synth_root, tmp_path, "run.iters=1").run()
    args = ["--config", str(CONFIG), "--work-dir", str(tmp_path)]
    sets = [a for o in overrides(synth_root, "model.latent_channels=16") for a in ("--set", o)]
    done = run_cli(*args, *sets, "--resume")
    assert done.returncode == 2 and "different model config (latent_channels)" in done.stderr
    done = run_cli(*args, *sets)
    assert done.returncode == 2 and "already holds a run" in done.stderr


def test_non_finite_loss_stops_naming_the_term_after_saving(synth_root, tmp_path):
    t = trainer(synth_root, tmp_path, "uda.lambda_ldm=.nan")
    from cicld_core.uda.trainer import TrainingError
    with pytest.raises(TrainingError, match="non-finite loss/ldm at iteration 1"):
        t.run()
    assert (tmp_path / "latest.safetensors").is_file()


def test_sigint_saves_and_resume_finishes(synth_root, tmp_path):
    sets = [a for o in overrides(synth_root, "run.iters=400", "run.eval_interval=1000") for a in ("--set", o)]
    process = subprocess.Popen([sys.executable, "train/uda.py", "--config", str(CONFIG), "--work-dir", str(tmp_path),
                                *sets], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "metrics.jsonl").is_file() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "continue with --resume" in stderr
    stopped_at = Trainer(load_config(CONFIG, overrides(synth_root, "run.iters=400")), tmp_path, resume=True).iteration
    assert 2 <= stopped_at < 400
