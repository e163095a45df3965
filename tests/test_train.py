"""Training: it learns, it resumes exactly, it checkpoints safely, it runs under DDP."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from boxpromptiml.data.images import load_mask, save_png
from boxpromptiml.data.sources import Sample
from boxpromptiml.errors import CheckpointError, ConfigError, DataError
from boxpromptiml.student import StudentArgs
from boxpromptiml.train import (
    FORMAT,
    DistillLoss,
    StepInfo,
    TrainConfig,
    WarmupCosine,
    fit,
    load_student,
    load_train_config,
    paired_samples,
    read_checkpoint,
)
from boxpromptiml.train.data import TrainDataset, epoch_batches
from boxpromptiml.train.synthetic import make_shapes, write_shapes_dataset

SRC = Path(__file__).resolve().parents[1] / "src"

# a tiny timm backbone (88 k parameters, BatchNorm included) for the fast tests
TINY = StudentArgs(backbone="test_efficientnet", dim=16, memory_size=4)


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: small models on a shared 2-core machine run up to 4x faster
    without two spinning threads fighting other jobs (measured); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny_config(tmp_path: Path, **kw: object) -> TrainConfig:
    train, val = write_shapes_dataset(tmp_path / "data", n_train=12, n_val=3, size=32)
    base: dict[str, object] = {
        "train": train,
        "val": val,
        "out_dir": tmp_path / "run",
        "model": TINY,
        "epochs": 2,
        "batch_size": 4,
        "input_size": 32,
        "lr": 1e-3,
        "workers": 0,
        "progress": False,
        "accelerator": "cpu",
    }
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _f1(pred: np.ndarray, mask: np.ndarray) -> float:
    """Reference pixel F1 of one image (both empty: 1)."""
    tp = np.sum(pred & mask)
    den = pred.sum() + mask.sum()
    return 1.0 if den == 0 else 2.0 * tp / den


# ---------------------------------------------------------------------------- it learns


@pytest.mark.slow
def test_learns_bright_shapes_to_f1_above_0_9(tmp_path: Path) -> None:
    """The default student (TinyViT-5M + MGFM, random init) on a trivially learnable task.

    Fails if the model, the loss, the augmentation or the target reading is broken."""
    train, val = write_shapes_dataset(tmp_path / "data", n_train=64, n_val=8, size=64, seed=0)
    cfg = TrainConfig(
        train=train,
        val=val,
        out_dir=tmp_path / "run",
        epochs=6,
        batch_size=8,
        input_size=64,
        lr=2e-3,
        warmup_epochs=0.5,
        workers=0,
        progress=False,
        accelerator="cpu",
    )
    result = fit(cfg)
    assert result.best is not None and result.best_f1 is not None
    # held-out images the run never saw, scored with an independent F1
    model, meta = load_student(result.best)
    assert meta["input_size"] == 64
    rng = np.random.default_rng(123)
    pairs = [make_shapes(rng, 64) for _ in range(16)]
    maps = model.predict_maps([im for im, _ in pairs])
    f1 = float(np.mean([_f1(p > 0.5, m) for p, (_, m) in zip(maps, pairs, strict=True)]))
    assert f1 > 0.9, f"held-out pixel F1 {f1:.3f}; history {result.history}"
    # the epoch-wise validation agreed that learning happened
    assert result.history[-1]["val_f1"] > 0.8
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


# ---------------------------------------------------------------------------- resume


class _Killed(Exception):
    pass


def test_resume_after_kill_continues_the_same_run(tmp_path: Path) -> None:
    # uninterrupted: 2 epochs x 3 steps
    ref_cfg = _tiny_config(tmp_path / "a", save_every=2)
    ref_steps: list[int] = []
    ref = fit(ref_cfg, on_step=lambda i: ref_steps.append(i.step))
    assert ref_steps == [1, 2, 3, 4, 5, 6]

    # killed after step 5; last.pt was saved at step 4 (epoch 2, batch 1)
    cfg = _tiny_config(tmp_path / "b", save_every=2)

    def kill(info: StepInfo) -> None:
        if info.step == 5:
            raise _Killed

    with pytest.raises(_Killed):
        fit(cfg, on_step=kill)
    saved = read_checkpoint(cfg.out_dir / "last.pt")
    assert (saved["step"], saved["epoch"], saved["epoch_step"]) == (4, 1, 1)

    resumed_cfg = load_train_config(cfg.out_dir)
    resumed_cfg.resume = True
    steps: list[StepInfo] = []
    res = fit(resumed_cfg, on_step=steps.append)
    assert [s.step for s in steps] == [5, 6]
    assert [s.epoch_step for s in steps] == [2, 3]
    # the batches after the resume are those of the uninterrupted run
    assert res.steps == ref.steps == 6

    a, b = read_checkpoint(ref.last), read_checkpoint(res.last)
    for k, v in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][k], v, rtol=0, atol=1e-6, msg=k)
    for sa, sb in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        torch.testing.assert_close(sb["exp_avg_sq"], sa["exp_avg_sq"], rtol=0, atol=1e-8)
        assert float(sb["step"]) == float(sa["step"]) == 6
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 6
    assert a["scheduler"]["_last_lr"] == pytest.approx(b["scheduler"]["_last_lr"])
    assert [h["val_f1"] for h in a["history"]] == pytest.approx([h["val_f1"] for h in b["history"]])
    assert torch.equal(a["rng"][0]["torch"], b["rng"][0]["torch"])


def test_resume_refuses_changed_settings_and_fresh_runs_refuse_old_folders(tmp_path: Path) -> None:
    cfg = _tiny_config(tmp_path, epochs=1)
    fit(cfg)
    with pytest.raises(ConfigError, match="already holds a run"):
        fit(cfg)
    changed = load_train_config(cfg.out_dir)
    changed.resume = True
    changed.lr = 0.5
    with pytest.raises(ConfigError, match=r"different settings \(lr\)"):
        fit(changed)
    # runtime fields may change; a finished run resumes to a no-op
    same = load_train_config(cfg.out_dir)
    same.resume, same.workers = True, 1
    assert fit(same).steps == 3


def test_outputs_of_a_run(tmp_path: Path) -> None:
    cfg = _tiny_config(tmp_path, epochs=1)
    result = fit(cfg)
    files = {p.name for p in cfg.out_dir.iterdir()}
    assert {"config.json", "last.pt", "best.pt", "log.csv"} <= files
    rows = (cfg.out_dir / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,lr,train_loss") and len(rows) == 2
    saved = json.loads((cfg.out_dir / "config.json").read_text())
    assert TrainConfig.from_dict(saved).to_dict() == saved
    # load_student rebuilds the architecture from the checkpoint alone
    model, meta = load_student(result.best, expect=TINY)
    assert meta["model_args"] == TINY.to_dict() and meta["kind"] == "best"
    x = torch.rand(2, 3, 32, 32)
    assert result.model is not None
    with torch.no_grad():
        torch.testing.assert_close(model(x), result.model(x))


@pytest.mark.parametrize("workers", [0, 1])
def test_a_bad_training_image_is_skipped_and_listed(tmp_path: Path, workers: int) -> None:
    cfg = _tiny_config(tmp_path, epochs=1, val=[], workers=workers)
    bad = cfg.train[2].image
    bad.write_bytes(b"not an image at all")
    result = fit(cfg)
    assert result.steps == 3 and len(result.skipped) == 1 and bad.name in result.skipped[0]
    listed = (cfg.out_dir / "skipped.txt").read_text()
    assert bad.name in listed and "not a readable image" in listed


def test_init_from_starts_from_a_trained_student(tmp_path: Path) -> None:
    """Fine-tuning: the second run starts at the first run's weights (all of them), and a
    checkpoint of another architecture is refused with a message naming the file."""
    first = fit(_tiny_config(tmp_path / "a", epochs=1, val=[]))
    init = load_student(first.last)[0].state_dict()
    # a learning rate so small that the weights cannot move measurably from their start
    second = fit(
        _tiny_config(tmp_path / "b", epochs=1, val=[], init_from=first.last, lr=1e-12,
                     weight_decay=0.0, augment=False)
    )  # fmt: skip
    after = load_student(second.last)[0].state_dict()
    fresh = fit(_tiny_config(tmp_path / "c", epochs=1, val=[], lr=1e-12, weight_decay=0.0,
                             seed=1))  # fmt: skip
    fresh_sd = load_student(fresh.last)[0].state_dict()
    weights = [k for k, v in init.items() if v.is_floating_point() and "running" not in k]
    assert weights
    for k in weights:
        torch.testing.assert_close(after[k], init[k], atol=1e-6, rtol=0)
    assert any(not torch.allclose(fresh_sd[k], init[k]) for k in weights)
    other = StudentArgs(backbone="test_efficientnet", dim=8, memory_size=4)
    with pytest.raises(CheckpointError, match="init_from checkpoint holds a test_efficientnet"):
        fit(_tiny_config(tmp_path / "d", epochs=1, val=[], model=other, init_from=first.last))
    with pytest.raises(ConfigError, match="init_from checkpoint not found"):
        fit(_tiny_config(tmp_path / "e", epochs=1, init_from=tmp_path / "nope.pt"))


def test_mixed_precision_path_runs(tmp_path: Path) -> None:
    """bf16 autocast through Fabric (on the CPU here; the same code path as on GPU): the
    convolutions of the training forward pass really run in bf16, fp32 stays fp32."""
    seen: dict[str, set[torch.dtype]] = {}

    def watch(precision: str) -> Callable[[StepInfo], None]:
        dtypes = seen.setdefault(precision, set())

        def on_step(info: StepInfo) -> None:
            if info.step == 1:  # from the second step on, record the conv outputs' dtype
                conv = next(m for m in info.model.modules() if isinstance(m, torch.nn.Conv2d))
                conv.register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype))

        return on_step

    cfg = _tiny_config(tmp_path, epochs=1, precision="bf16-mixed")
    result = fit(cfg, on_step=watch("bf16"))
    assert seen["bf16"] == {torch.bfloat16}
    fit(_tiny_config(tmp_path / "fp32", epochs=1, precision="32-true"), on_step=watch("fp32"))
    assert seen["fp32"] == {torch.float32}
    assert np.isfinite(result.history[0]["train_loss"])
    ckpt = read_checkpoint(result.last)
    assert all(v.dtype != torch.bfloat16 for v in ckpt["state_dict"].values())


# ---------------------------------------------------------------------------- checkpoints


def test_bad_checkpoints_fail_with_one_line(tmp_path: Path) -> None:
    cfg = _tiny_config(tmp_path, epochs=1)
    result = fit(cfg)
    good = result.last.read_bytes()
    cases: dict[str, tuple[bytes | None, str]] = {
        "truncated.pt": (good[: len(good) // 2], "not a readable PyTorch checkpoint"),
        "empty.pt": (b"", "empty"),
        "text.pt": (b"hello, this is not a checkpoint\n" * 10, "not a readable PyTorch"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        assert data is not None
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match=message) as info:
            load_student(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)

    plain = tmp_path / "plain_state_dict.pt"
    torch.save(result.model.state_dict() if result.model else {}, plain)
    with pytest.raises(CheckpointError, match="not a boxpromptiml student checkpoint"):
        load_student(plain)

    # weights_only=True: a pickled arbitrary object is refused, never executed
    evil = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "payload": argparse.Namespace(x=1)}, evil)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_student(evil)

    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_student(tmp_path / "missing.pt")

    # another architecture than requested
    with pytest.raises(CheckpointError, match="not the requested tiny_vit_5m_224"):
        load_student(result.last, expect="tinyvit5m")

    # model_args that do not match the weights
    ckpt = read_checkpoint(result.last)
    ckpt["model_args"]["dim"] = 32
    wrong = tmp_path / "wrong_args.pt"
    torch.save(ckpt, wrong)
    with pytest.raises(CheckpointError, match=r"do not fit the architecture|has shape") as info:
        load_student(wrong)
    assert "\n" not in str(info.value)

    newer = read_checkpoint(result.last)
    newer["version"] = 99
    torch.save(newer, tmp_path / "newer.pt")
    with pytest.raises(CheckpointError, match="newer"):
        load_student(tmp_path / "newer.pt")


# ---------------------------------------------------------------------------- parts


def test_epoch_batches_are_seeded_sharded_and_disjoint() -> None:
    one = epoch_batches(10, 2, epoch=3, seed=7)
    assert one == epoch_batches(10, 2, epoch=3, seed=7)
    assert one != epoch_batches(10, 2, epoch=4, seed=7)
    assert sorted(i for b in one for i, _ in b) == list(range(10))
    r0 = epoch_batches(11, 2, epoch=0, seed=0, rank=0, world_size=2)
    r1 = epoch_batches(11, 2, epoch=0, seed=0, rank=1, world_size=2)
    assert len(r0) == len(r1) == 3  # 12 padded samples, 6 each, 3 full batches
    i0 = [i for b in r0 for i, _ in b]
    i1 = [i for b in r1 for i, _ in b]
    assert set(i0) | set(i1) == set(range(11))
    with pytest.raises(ConfigError, match="batch size 8 is larger"):
        epoch_batches(5, 8, 0, 0)


def test_targets_soft_for_pseudo_binary_for_gt(tmp_path: Path) -> None:
    img = np.zeros((20, 30, 3), np.uint8)
    tgt = np.zeros((20, 30), np.float32)
    tgt[5:10, 5:10] = 0.4
    save_png(tmp_path / "a.png", img)
    save_png(tmp_path / "a_t.png", tgt)
    s = Sample("a", tmp_path / "a.png", tmp_path / "a_t.png", 1)
    soft = TrainDataset([s], 32, "pseudo", augment=False).load(0)[1]
    hard = TrainDataset([s], 32, "gt", augment=False).load(0)[1]
    assert soft.max() == pytest.approx(102 / 255)
    assert hard.max() == 0.0  # 0.4*255 = 102 is below the mask threshold 127
    item = TrainDataset([s], 32, "pseudo", augment=True)[(0, 1)]
    assert item["image"].shape == (3, 32, 32) and item["target"].shape == (1, 32, 32)
    assert float(item["target"].min()) >= 0.0 and float(item["target"].max()) <= 1.0
    # the same seed gives the same augmentation
    again = TrainDataset([s], 32, "pseudo", augment=True)[(0, 1)]
    assert torch.equal(item["image"], again["image"])
    save_png(tmp_path / "b_t.png", np.zeros((21, 30), np.float32))
    bad = Sample("b", tmp_path / "a.png", tmp_path / "b_t.png", 1)
    with pytest.raises(DataError, match=r"target is 21x30 but image a\.png is 20x30"):
        TrainDataset([bad], 32, "pseudo", augment=False).load(0)


def test_photometric_augmentation_changes_the_rendering_only(tmp_path: Path) -> None:
    from boxpromptiml.train.data import build_augmentation

    rng = np.random.default_rng(0)
    img = rng.integers(30, 220, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[10:30, 20:40] = 1
    plain = build_augmentation(32, False, "native")
    off = build_augmentation(32, False, "native", photometric=0.0)
    on = build_augmentation(32, False, "native", photometric=1.0)
    names = [type(t).__name__ for t in on.transforms]
    assert "Sequential" in names and len(off.transforms) == len(plain.transforms)
    changed = 0
    for seed in range(6):
        outs = []
        for aug in (plain, off, on):
            aug.set_random_seed(seed)
            outs.append(aug(image=img, mask=mask))
        assert np.array_equal(outs[0]["image"], outs[1]["image"])  # off: the same draws
        assert np.array_equal(outs[0]["mask"], outs[2]["mask"])  # same crop, same target
        changed += int(not np.array_equal(outs[0]["image"], outs[2]["image"]))
    assert changed == 6
    cfg = TrainConfig(train=[("a.png", None)], out_dir=tmp_path)
    assert "photometric" not in cfg.to_dict()  # an earlier run's config.json still matches
    assert dataclasses.replace(cfg, photometric=0.5).to_dict()["photometric"] == 0.5
    with pytest.raises(ConfigError, match="photometric"):
        dataclasses.replace(cfg, photometric=1.5).validated()


def test_losses_against_reference() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 5, 6, generator=g, dtype=torch.float64)
    target = torch.rand(2, 1, 5, 6, generator=g, dtype=torch.float64)
    p = 1 / (1 + np.exp(-logits.numpy()))
    t = target.numpy()
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    total, terms = DistillLoss(bce=1.0, dice=0.5, focal=2.0, gamma=2.0)(logits, target)
    assert terms["bce"] == pytest.approx(bce.mean())
    assert terms["focal"] == pytest.approx((np.abs(t - p) ** 2 * bce).mean())
    inter = (p * t).reshape(2, -1).sum(1)
    dice = 1 - (2 * inter + 1) / (p.reshape(2, -1).sum(1) + t.reshape(2, -1).sum(1) + 1)
    assert terms["dice"] == pytest.approx(dice.mean())
    expected = bce.mean() + 0.5 * dice.mean() + 2.0 * terms["focal"]
    assert float(total) == pytest.approx(expected, rel=1e-5)
    # pos_weight w multiplies the manipulated term only
    _, weighted = DistillLoss(bce=1.0, pos_weight=2.5)(logits, target)
    assert weighted["bce"] == pytest.approx(
        (-(2.5 * t * np.log(p) + (1 - t) * np.log(1 - p))).mean()
    )


def test_pos_weight_moves_the_learned_probability() -> None:
    """BCE with pos_weight w, minimised over one free logit against a target rate q, learns
    p' = w q / (w q + 1 − q): the fixed 0.5 cut then sits at the 1/(1 + w) cut of q."""
    q, w = 0.3, 3.0
    logit = torch.zeros(1, 1, 1, 1, requires_grad=True, dtype=torch.float64)
    target = torch.full((1, 1, 1, 1), q, dtype=torch.float64)
    opt = torch.optim.LBFGS(
        [logit], max_iter=200, tolerance_grad=1e-12, line_search_fn="strong_wolfe"
    )
    loss_fn = DistillLoss(bce=1.0, pos_weight=w)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn(logit, target)[0]
        loss.backward()
        return loss

    opt.step(closure)
    assert float(torch.sigmoid(logit.detach())) == pytest.approx(w * q / (w * q + 1 - q), abs=1e-5)


def test_warmup_cosine_schedule() -> None:
    f = WarmupCosine(warmup_steps=4, total_steps=14, min_ratio=0.1)
    assert [f(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f(4) == pytest.approx(1.0)
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(14) == pytest.approx(0.1) and f(100) == pytest.approx(0.1)


def test_config_validation_names_the_bad_value(tmp_path: Path) -> None:
    s = [Sample("a", tmp_path / "a.png", tmp_path / "a_t.png", 1)]
    for kw, message in [
        ({"train": []}, "no training samples"),
        ({"input_size": 100}, "multiple of 32"),
        ({"lr": -1.0}, "lr must be"),
        ({"supervision": "full"}, "supervision"),
        ({"precision": "fp8"}, "precision"),
        ({"bce_weight": 0.0, "dice_weight": 0.0}, "at least one"),
        ({"ema": 1.0}, "ema must be a decay"),
    ]:
        args: dict[str, object] = {"train": s, "out_dir": tmp_path, **kw}
        with pytest.raises(ConfigError, match=message):
            TrainConfig(**args).validated()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        TrainConfig.from_dict({"epoch": 3})


def test_paired_samples_pairs_by_stem(tmp_path: Path) -> None:
    train, _ = write_shapes_dataset(tmp_path, n_train=3, n_val=0, size=16)
    pairs = paired_samples(tmp_path / "train" / "images", tmp_path / "train" / "pseudo")
    assert [(p.name, p.image, p.mask) for p in pairs] == [(s.name, s.image, s.mask) for s in train]
    assert load_mask(pairs[0].mask).shape == (16, 16)


def _cli_toy(tmp_path: Path, n_val: int) -> tuple[argparse.ArgumentParser, str, str]:
    """``boxprompt train``'s parser, and the TRAIN and val specs of a toy dataset."""
    from boxpromptiml.commands.train import add_arguments

    write_shapes_dataset(tmp_path, n_train=3, n_val=n_val, size=16)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    spec = f"{tmp_path / 'train' / 'images'},{tmp_path / 'train' / 'pseudo'}"
    return parser, spec, f"{tmp_path / 'val' / 'images'},{tmp_path / 'val' / 'masks'}"


def test_cli_options_build_the_config(tmp_path: Path) -> None:
    from boxpromptiml.commands.train import config_from_args

    parser, spec, val = _cli_toy(tmp_path, n_val=2)
    args = parser.parse_args(
        [spec, "--val", val, "--memory-size", "0", "--epochs", "3", "--out", str(tmp_path / "r")]
    )
    cfg = config_from_args(args)
    assert isinstance(cfg, TrainConfig)
    assert len(cfg.train) == 3 and len(cfg.val) == 2 and cfg.epochs == 3
    lite0 = StudentArgs(backbone="tf_efficientnet_lite0", memory_size=0)
    assert cfg.model == lite0 and cfg.supervision == "pseudo"
    # the CLI's defaults are the recipe measured on COVERAGE (benchmarks/coverage.py)
    assert (cfg.lr, cfg.dice_weight, cfg.pos_weight, cfg.batch_size) == (5e-4, 1.0, 1.0, 8)
    from boxpromptiml.student import shipped_pretrained

    assert cfg.pretrained == shipped_pretrained("efficientnet-lite0")
    fast = config_from_args(
        parser.parse_args([spec, "--model", "efficientnet-lite0-fast", "--corr", "4",
                           "--out", str(tmp_path / "f")])
    )  # fmt: skip
    assert isinstance(fast, TrainConfig)
    assert (fast.model.drop_deepest, fast.model.dim, fast.model.corr_k) == (1, 32, 4)
    assert (cfg.image_weight, cfg.image_topk) == (0.0, 0.01)  # off unless asked
    img = config_from_args(
        parser.parse_args([spec, "--image-weight", "1", "--image-topk", "0.05",
                           "--out", str(tmp_path / "i")])
    )  # fmt: skip
    assert isinstance(img, TrainConfig) and (img.image_weight, img.image_topk) == (1.0, 0.05)
    assert fast.pretrained == cfg.pretrained  # the same shipped Lite0 weights
    paper = config_from_args(
        parser.parse_args([spec, "--model", "tinyvit5m", "--pretrained", "none", "--pos-weight",
                           "3", "--dice", "0", "--ema", "0.99", "--out", str(tmp_path / "p")])
    )  # fmt: skip
    assert isinstance(paper, TrainConfig)
    assert paper.model == StudentArgs() and paper.pretrained is None
    assert (paper.pos_weight, paper.dice_weight, paper.ema) == (3.0, 0.0, 0.99)
    gt_root = tmp_path / "gtroot"
    (gt_root / "Tp").mkdir(parents=True)
    (gt_root / "Gt").mkdir()
    with pytest.raises(ConfigError, match="pass --gt"):
        config_from_args(parser.parse_args([str(gt_root)]))


def test_cli_adds_authentic_images_and_mixed_data(tmp_path: Path) -> None:
    from boxpromptiml.commands.train import config_from_args

    parser, spec, mix = _cli_toy(tmp_path, n_val=4)
    au = tmp_path / "au"
    au.mkdir()
    for i in range(2):
        save_png(au / f"photo{i}.png", np.full((16, 16, 3), 40 * i, np.uint8))

    def cfg_of(*extra: str) -> TrainConfig:
        cfg = config_from_args(parser.parse_args([spec, "--out", str(tmp_path / "r"), *extra]))
        assert isinstance(cfg, TrainConfig)
        return cfg

    cfg = cfg_of("--authentic", str(au), "--mix", mix, "--mix-count", "2")
    assert len(cfg.train) == 3 + 2 + 2
    authentic = [s for s in cfg.train if s.label == 0]
    assert sorted(s.name for s in authentic) == ["photo0", "photo1"]
    assert all(s.mask is None for s in authentic)  # all-zero target in training
    mixed = [s for s in cfg.train if s.name.startswith("val")]
    assert len(mixed) == 2 and all(
        s.mask is not None and s.mask.parent.name == "masks" for s in mixed
    )
    # the draw is seeded: the same images every time, and a subset of the four
    assert [s.name for s in cfg_of("--mix", mix, "--mix-count", "2").train[3:]] == [
        s.name for s in mixed
    ]
    assert len(cfg_of("--mix", mix).train) == 3 + 4
    # an authentic image trains towards an all-zero map
    item = TrainDataset(cfg.train, 16, "pseudo", augment=False)[(cfg.train.index(authentic[0]), 0)]
    assert float(item["target"].max()) == 0.0
    with pytest.raises(ConfigError, match="hold 4 images"):
        cfg_of("--mix", mix, "--mix-count", "5")
    with pytest.raises(ConfigError, match="needs --mix"):
        cfg_of("--mix-count", "1")
    with pytest.raises(DataError, match="glob matches no images"):
        cfg_of("--authentic", str(tmp_path / "nothing" / "*.png"))


# ---------------------------------------------------------------------------- DDP

_DDP_SCRIPT = """
import hashlib, json, os, sys
from pathlib import Path
import torch
from boxpromptiml.data.sources import Sample
from boxpromptiml.student import StudentArgs
from boxpromptiml.train import TrainConfig, fit

out = Path(sys.argv[1])
data = json.loads((out / "samples.json").read_text())
seen = []
cfg = TrainConfig(
    train=[Sample(n, Path(i), Path(m), 1) for n, i, m in data["train"]],
    val=[Sample(n, Path(i), Path(m), 1) for n, i, m in data["val"]],
    out_dir=out / "run",
    model=StudentArgs(backbone="test_efficientnet", dim=16, memory_size=4),
    epochs=1, batch_size=2, input_size=32, lr=1e-2, workers=0, progress=False,
    accelerator="cpu",
)
res = fit(cfg, on_step=lambda info: seen.append(info.names))
digest = hashlib.sha256(
    b"".join(p.detach().cpu().numpy().tobytes() for p in res.model.parameters())
).hexdigest()
rank = int(os.environ["RANK"])
(out / f"rank{rank}.json").write_text(json.dumps(
    {"seen": seen, "digest": digest, "world": torch.distributed.get_world_size(),
     "history": res.history}
))
"""


@pytest.mark.slow
def test_ddp_two_cpu_processes_with_gloo(tmp_path: Path) -> None:
    train, val = write_shapes_dataset(tmp_path / "data", n_train=8, n_val=3, size=32)
    (tmp_path / "samples.json").write_text(
        json.dumps(
            {
                "train": [[s.name, str(s.image), str(s.mask)] for s in train],
                "val": [[s.name, str(s.image), str(s.mask)] for s in val],
            }
        )
    )
    script = tmp_path / "ddp_fit.py"
    script.write_text(_DDP_SCRIPT)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    env["OMP_NUM_THREADS"] = "1"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(script), str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2
    # 8 samples, 2 processes, batch 2: 2 steps each, every sample seen exactly once
    seen0 = [n for batch in r0["seen"] for n in batch]
    seen1 = [n for batch in r1["seen"] for n in batch]
    assert len(r0["seen"]) == len(r1["seen"]) == 2
    assert not set(seen0) & set(seen1)
    assert sorted(seen0 + seen1) == sorted(s.name for s in train)
    # gradients were averaged: both processes end with identical weights
    assert r0["digest"] == r1["digest"]
    # validation was split over the processes and merged: all 3 images scored
    assert r0["history"][0]["val_images"] == r1["history"][0]["val_images"] == 3
    ckpt = read_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2


def test_ema_weights_are_the_moving_average_and_resume_exactly(tmp_path: Path) -> None:
    """With ``ema`` the saved model is the step-wise moving average of the trained
    weights (first step copied), the raw weights are kept to resume, and a run killed
    mid-way ends with the same average as an uninterrupted one."""
    decay = 0.6
    seen: list[dict[str, torch.Tensor]] = []

    def record(info: StepInfo) -> None:
        seen.append({k: v.detach().clone() for k, v in info.model.state_dict().items()})

    ref = fit(_tiny_config(tmp_path / "a", ema=decay, save_every=2), on_step=record)
    expect = dict(seen[0])
    for sd in seen[1:]:
        expect = {
            k: decay * v + (1 - decay) * sd[k] if v.is_floating_point() else sd[k]
            for k, v in expect.items()
        }
    saved = read_checkpoint(ref.last)
    moved = 0.0
    for k, v in saved["state_dict"].items():
        if v.is_floating_point():
            torch.testing.assert_close(v, expect[k], rtol=1e-5, atol=1e-6, msg=k)
            moved = max(moved, float((v - saved["train_state_dict"][k]).abs().max()))
        torch.testing.assert_close(saved["train_state_dict"][k], seen[-1][k], msg=k)
    assert moved > 1e-4  # the average is not the last weights
    model, _ = load_student(ref.last)
    assert ref.model is not None
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref.model(x))

    cfg = _tiny_config(tmp_path / "b", ema=decay, save_every=2)

    def kill(info: StepInfo) -> None:
        if info.step == 5:
            raise _Killed

    with pytest.raises(_Killed):
        fit(cfg, on_step=kill)
    resumed = load_train_config(cfg.out_dir)
    resumed.resume = True
    res = fit(resumed)
    again = read_checkpoint(res.last)
    for k, v in saved["state_dict"].items():
        torch.testing.assert_close(again["state_dict"][k], v, rtol=0, atol=1e-6, msg=k)


def test_soup_averages_students_fine_tuned_from_one_start(tmp_path: Path) -> None:
    """The soup's weights are the mean of its ingredients', it loads and predicts like a
    student (its output is not one ingredient's), and bad combinations are refused."""
    from boxpromptiml.cli import main as cli_main
    from boxpromptiml.train import average_checkpoints

    start = fit(_tiny_config(tmp_path / "start", epochs=1, val=[])).last
    runs = [
        fit(_tiny_config(tmp_path / f"s{sd}", epochs=1, val=[], init_from=start, seed=sd)).last
        for sd in (0, 1)
    ]
    soup = average_checkpoints(runs, tmp_path / "soup.pt")
    parts = [read_checkpoint(r)["state_dict"] for r in runs]
    got = read_checkpoint(soup)
    assert got["kind"] == "soup" and got["soup_of"] == [str(r) for r in runs]
    differ = 0
    for k, v in got["state_dict"].items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (parts[0][k] + parts[1][k]) / 2, msg=k)
            differ += int(not torch.equal(parts[0][k], parts[1][k]))
        else:
            assert torch.equal(v, torch.maximum(parts[0][k], parts[1][k]))
    assert differ > 0  # the seeds did train apart
    model, meta = load_student(soup, expect=TINY)
    assert meta["kind"] == "soup"
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        outs = [load_student(r)[0](x) for r in runs]
        assert not torch.allclose(model(x), outs[0]) and not torch.allclose(model(x), outs[1])

    # the command writes the same file
    assert cli_main(["soup", *map(str, runs), "--out", str(tmp_path / "cli.pt")]) == 0
    for k, v in read_checkpoint(tmp_path / "cli.pt")["state_dict"].items():
        assert torch.equal(v, got["state_dict"][k]), k
    # weights: a soup of two runs, weighted 2 against one of them, is (2 a + b) / 3 (the
    # uniform soup of three runs when the third is another run); the command takes them too
    three = read_checkpoint(average_checkpoints([soup, runs[0]], tmp_path / "w.pt", weights=[2, 1]))
    assert three["soup_weights"] == pytest.approx([2 / 3, 1 / 3])
    assert cli_main(["soup", str(soup), str(runs[0]), "--weights", "2,1",
                     "--out", str(tmp_path / "w-cli.pt")]) == 0  # fmt: skip
    from_cli = read_checkpoint(tmp_path / "w-cli.pt")["state_dict"]
    for k, v in three["state_dict"].items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (2 * parts[0][k] + parts[1][k]) / 3, msg=k)
            assert torch.equal(from_cli[k], v), k
    for bad in ([1], [1, 0], [1, float("nan")]):
        with pytest.raises(CheckpointError, match="weight"):
            average_checkpoints(runs, tmp_path / "x.pt", weights=bad)
    with pytest.raises(SystemExit):
        cli_main(["soup", *map(str, runs), "--weights", "2,x", "--out", str(tmp_path / "x.pt")])
    # refused: one checkpoint; overwriting an ingredient; independently started runs
    with pytest.raises(CheckpointError, match="at least two"):
        average_checkpoints(runs[:1], tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="overwrite"):
        average_checkpoints(runs, runs[0])
    apart = fit(_tiny_config(tmp_path / "apart", epochs=1, val=[], seed=3)).last
    with pytest.raises(CheckpointError, match="did not all start from the same weights"):
        average_checkpoints([runs[0], apart], tmp_path / "x.pt")
    assert average_checkpoints([runs[0], apart], tmp_path / "x.pt", force=True).is_file()
    other = StudentArgs(backbone="test_efficientnet", dim=8, memory_size=4)
    wide = fit(_tiny_config(tmp_path / "other", epochs=1, val=[], model=other)).last
    with pytest.raises(CheckpointError, match="another architecture"):
        average_checkpoints([runs[0], wide], tmp_path / "x.pt")
    assert cli_main(["soup", str(runs[0]), str(wide), "--out", str(tmp_path / "y.pt")]) != 0


def test_soup_of_packaged_runs_from_one_seed_keeps_their_inference_settings(
    tmp_path: Path,
) -> None:
    """Two runs with the same seed and no init_from start from the same weights (training
    seeds torch before it builds the student), so their packaged models average without
    --force; the soup keeps the inference settings and data manifest they share, each
    ingredient's recipe and sha256, and the predictor applies the settings."""
    import hashlib

    from boxpromptiml.predict import Localizer
    from boxpromptiml.recipes.general import package_model
    from boxpromptiml.train import average_checkpoints

    runs = [
        fit(_tiny_config(tmp_path / name, epochs=1, val=[], lr=lr)).last
        for name, lr in (("a", 1e-3), ("b", 3e-3))
    ]
    inference = {"tile": True, "max_side": 64, "tta": "h"}
    packed = [
        package_model(r, tmp_path / f"{i}.pt", recipe={"seed": 0, "lr": lr},
                      manifest_sha256="ab" * 32, inference=inference)
        for i, (r, lr) in enumerate(zip(runs, (1e-3, 3e-3), strict=True))
    ]  # fmt: skip
    soup = read_checkpoint(average_checkpoints(packed, tmp_path / "soup.pt"))
    assert soup["inference"] == inference and soup["manifest_sha256"] == "ab" * 32
    assert soup["soup_manifest_sha256"] == ["ab" * 32] * 2
    assert soup["recipe"] == {"soup_of": [{"seed": 0, "lr": 1e-3}, {"seed": 0, "lr": 3e-3}]}
    assert soup["soup_sha256"] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in packed]
    parts = [read_checkpoint(p)["state_dict"] for p in packed]
    for k, v in soup["state_dict"].items():
        if v.is_floating_point():
            assert v.dtype == torch.float16, k
            want = ((parts[0][k].float() + parts[1][k].float()) / 2).half()
            torch.testing.assert_close(v, want, msg=k)
    loc = Localizer.from_checkpoint(tmp_path / "soup.pt", device="cpu")
    assert loc.tta == "h" and loc.tile is True and loc.max_side == 64
    # a third run of another seed started elsewhere: refused, and its settings would differ
    other = package_model(
        fit(_tiny_config(tmp_path / "c", epochs=1, val=[], seed=5)).last, tmp_path / "c.pt",
        recipe={"seed": 5}, inference={"tile": True, "max_side": 32},
    )  # fmt: skip
    with pytest.raises(CheckpointError, match="same weights"):
        average_checkpoints([packed[0], other], tmp_path / "x.pt")
    # a packaged soup starts where its ingredients did: it averages with a run of that
    # start, and is refused with a run of another
    again = average_checkpoints([tmp_path / "soup.pt", packed[1]], tmp_path / "again.pt")
    assert read_checkpoint(again)["recipe"]["soup_of"][0] == soup["recipe"]
    with pytest.raises(CheckpointError, match="same weights"):
        average_checkpoints([tmp_path / "soup.pt", other], tmp_path / "x.pt")
    mixed = read_checkpoint(average_checkpoints([packed[0], other], tmp_path / "x.pt", force=True))
    assert mixed["inference"] == {"tile": True} and mixed["manifest_sha256"] is None
    assert mixed["soup_manifest_sha256"] == ["ab" * 32, None]  # each ingredient's data


def test_topk_image_loss_quiets_untouched_crops_and_asks_for_a_region() -> None:
    from boxpromptiml.train.losses import DistillLoss, topk_image_loss

    quiet = torch.full((1, 1, 10, 10), -4.0)
    loud = quiet.clone()
    loud[0, 0, 0, 0] = 4.0  # one pixel = the top 1 % of 100
    authentic = torch.zeros(1, 1, 10, 10)
    forged = authentic.clone()
    forged[0, 0, :3, :3] = 1.0
    # an untouched crop is penalised for its single loud pixel, a forged one for silence
    assert topk_image_loss(loud, authentic) > 10 * topk_image_loss(quiet, authentic)
    assert topk_image_loss(quiet, forged) > 10 * topk_image_loss(loud, forged)
    # only the top-k pixels receive a gradient
    x = loud.clone().requires_grad_(True)
    topk_image_loss(x, authentic).backward()
    assert x.grad is not None and int((x.grad != 0).sum()) == 1
    total, terms = DistillLoss(bce=1.0, image=0.5)(loud, authentic)
    assert set(terms) == {"bce", "image"}
    assert float(total) == pytest.approx(terms["bce"] + 0.5 * terms["image"], rel=1e-5)
