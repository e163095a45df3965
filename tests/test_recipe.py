"""The general recipe (photos → synthetic data → student → packaged model), the packaged
model's inference settings, the noise-residual branch and the shipped student."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from boxpromptiml.cli import main  # noqa: E402
from boxpromptiml.errors import CheckpointError, ConfigError  # noqa: E402
from boxpromptiml.predict import Localizer  # noqa: E402
from boxpromptiml.recipes import GeneralRecipe, get_recipe, run_recipe  # noqa: E402
from boxpromptiml.recipes.general import package_model  # noqa: E402
from boxpromptiml.student.checkpoint import load_student, read_checkpoint  # noqa: E402
from tests.test_predict import make_checkpoint, write_images  # noqa: E402

TINY = {"forged": 12, "authentic": 8, "size": 160, "batch_size": 4, "input_size": 64,
        "workers": 0, "progress": False}  # fmt: skip


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recipe") / "general"
    run_recipe(get_recipe("general-tiny").replace(**TINY), out)
    return out


def test_recipe_runs_every_stage_and_packages_the_model(recipe_run: Path) -> None:
    data = recipe_run / "data"
    assert len(list((data / "Tp").iterdir())) == 12 and len(list((data / "Au").iterdir())) == 8
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["config"]["prejpeg"] == 0.7 and manifest["config"]["poisson"] == 0.25
    ckpt = read_checkpoint(recipe_run / "model.pt")
    assert ckpt["config"]["crop"] == "native" and ckpt["config"]["input_size"] == 64
    assert ckpt["recipe"]["forged"] == 12 and len(ckpt["manifest_sha256"]) == 64
    assert ckpt["inference"] == {"tile": True, "max_side": 1536, "image_score": "top1pct"}
    assert all(v.dtype == torch.float16 for v in ckpt["state_dict"].values()
               if v.is_floating_point())  # fmt: skip
    # the packaged model predicts like the training checkpoint, within fp16 rounding
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    full, _ = load_student(recipe_run / "train" / "last.pt")
    half, meta = load_student(recipe_run / "model.pt")
    assert meta["inference"]["tile"] is True
    a, b = full.predict_maps([img])[0], half.predict_maps([img])[0]
    assert np.abs(a - b).max() < 0.02


def test_recipe_resumes_and_refuses_other_settings(recipe_run: Path) -> None:
    before = (recipe_run / "train" / "last.pt").stat().st_mtime_ns
    run_recipe(get_recipe("general-tiny").replace(**TINY), recipe_run)  # all stages done
    assert (recipe_run / "train" / "last.pt").stat().st_mtime_ns == before
    with pytest.raises(ConfigError, match="other recipe settings"):
        run_recipe(get_recipe("general-tiny").replace(**{**TINY, "forged": 13}), recipe_run)


def test_inference_settings_change_without_retraining(recipe_run: Path, tmp_path: Path) -> None:
    from boxpromptiml.recipes import set_inference

    run = recipe_run  # put back as it was at the end
    before = (run / "train" / "last.pt").stat().st_mtime_ns
    run_recipe(get_recipe("general-tiny").replace(**TINY, tta="h"), run)
    assert (run / "train" / "last.pt").stat().st_mtime_ns == before  # not retrained
    assert read_checkpoint(run / "model.pt")["inference"]["tta"] == "h"
    assert json.loads((run / "recipe.json").read_text())["tta"] == "h"
    assert Localizer.from_checkpoint(run / "model.pt").tta == "h"
    assert Localizer.from_checkpoint(run / "model.pt", tta="none").tta == "none"
    run_recipe(get_recipe("general-tiny").replace(**TINY), run)
    assert "tta" not in read_checkpoint(run / "model.pt")["inference"]
    with pytest.raises(ConfigError, match="tta"):
        GeneralRecipe(tta="v")
    with pytest.raises(ConfigError, match="image_score must be one of"):
        GeneralRecipe(image_score="top3pct")

    # a packaged model copied with other inference settings: same weights and provenance
    src = recipe_run / "model.pt"
    out = set_inference(src, tmp_path / "h.pt", tta="h", max_side=None)
    a, b = read_checkpoint(src), read_checkpoint(out)
    assert b["inference"] == {"tile": True, "image_score": "top1pct", "tta": "h"}
    assert b["recipe"] == a["recipe"] and b["manifest_sha256"] == a["manifest_sha256"]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    with pytest.raises(ConfigError, match="another dest"):
        set_inference(out, out, tta="hv")
    with pytest.raises(ConfigError, match="inference setting"):
        set_inference(src, tmp_path / "x.pt", tiles=True)
    with pytest.raises(ConfigError, match="image_score must be one of"):
        set_inference(src, tmp_path / "x.pt", image_score="median")
    assert not (tmp_path / "x.pt").exists()
    top5 = set_inference(src, tmp_path / "top5.pt", image_score="top5pct")
    assert Localizer.from_checkpoint(top5).image_score == "top5pct"


def test_predict_command_keeps_packaged_threshold_and_overlap_unless_given(
    recipe_run: Path, tmp_path: Path
) -> None:
    """``boxprompt predict`` passes only the options a user gave, so a packaged
    ``threshold``, ``overlap`` or ``tta`` is not replaced by the command's defaults."""
    from boxpromptiml.commands.predict import TTA_CHOICES
    from boxpromptiml.predict.localizer import TTA_MODES
    from boxpromptiml.recipes import set_inference

    assert TTA_CHOICES == TTA_MODES
    model = set_inference(
        recipe_run / "model.pt", tmp_path / "m.pt", threshold=0.3, overlap=0.5, tta="h"
    )
    image = write_images(tmp_path / "img", [(96, 128)])[0]
    common = [str(image), "--model", str(model), "--no-overlay", "--no-progress"]
    assert main(["predict", *common, "--out", str(tmp_path / "a")]) == 0
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["threshold"] == 0.3 and run["model"]["tile_overlap"] == 0.5
    assert run["model"]["tta"] == "h"
    given = ["--threshold", "0.6", "--overlap", "0.25", "--tta", "none"]
    assert main(["predict", *common, *given, "--out", str(tmp_path / "b")]) == 0
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["threshold"] == 0.6 and run["model"]["tile_overlap"] == 0.25
    assert "tta" not in run["model"]


def test_localizer_applies_packaged_settings_unless_overridden(
    recipe_run: Path, tmp_path: Path
) -> None:
    loc = Localizer.from_checkpoint(recipe_run / "model.pt")
    assert loc.tile and loc.max_side == 1536 and loc.image_score == "top1pct"
    plain = Localizer.from_checkpoint(recipe_run / "model.pt", tile=False, image_score="max")
    assert not plain.tile and plain.image_score == "max"
    # max_side: a large image is downscaled before tiling and its map comes back full size
    capped = Localizer.from_checkpoint(recipe_run / "model.pt", max_side=96)
    (path,) = write_images(tmp_path, [(120, 200)])
    (pred,) = capped.predict([path])
    assert pred.prob.shape == (120, 200) and pred.info["max_side"] == 96
    with pytest.raises(ConfigError, match="max_side"):
        Localizer.from_checkpoint(recipe_run / "model.pt", max_side=4)


def test_onnx_export_keeps_the_packaged_settings(recipe_run: Path, tmp_path: Path) -> None:
    from boxpromptiml.export import export_onnx

    report = export_onnx(recipe_run / "model.pt", tmp_path / "general.onnx")
    loc = Localizer.from_checkpoint(report.onnx)
    assert loc.tile and loc.max_side == 1536 and loc.image_score == "top1pct"


def test_recipe_cli_and_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "r.json"
    cfg.write_text(json.dumps({**{k: v for k, v in TINY.items() if k not in ("workers", "progress")},
                               "forged": 6, "authentic": 4}))  # fmt: skip
    out = tmp_path / "run"
    assert main(["recipe", "general-tiny", "--config", str(cfg), "--out", str(out),
                 "--workers", "0", "--no-progress"]) == 0  # fmt: skip
    assert "model.pt" in capsys.readouterr().out and (out / "model.pt").is_file()
    assert main(["recipe", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err
    assert main(["recipe", "general-tiny", "--set", "epoch=2", "--out", str(tmp_path / "y")]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="top level"):
        run_recipe(GeneralRecipe(synth={"n": 3}), tmp_path / "z")


def test_package_model_of_a_plain_checkpoint(tmp_path: Path) -> None:
    src = make_checkpoint(tmp_path / "best.pt")
    dest = package_model(src, tmp_path / "m.pt", inference={"tile": False})
    assert dest.stat().st_size < src.stat().st_size
    loc = Localizer.from_checkpoint(dest)
    assert not loc.tile and loc.image_score == "max"


def test_noise_branch_fast_forward_equals_its_definition() -> None:
    """forward() uses 3 residual maps and triplet-summed weights; the stored layout is the
    9-map one: both must give the same features, values and gradients alike."""
    from boxpromptiml.student.noise import NoiseResidual

    torch.manual_seed(0)
    branch = NoiseResidual(8)
    for mod in branch.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.normal_()
    assert branch.convs[0][0].weight.shape == (16, 9, 3, 3)  # checkpoints keep this shape
    assert "srm" not in branch.state_dict() and "scaled" not in branch.state_dict()
    x = torch.rand(2, 3, 45, 61)
    branch.eval()
    ref = branch.convs(branch.residuals(x))
    assert torch.allclose(branch(x), ref, atol=1e-5)
    ref.square().sum().backward()
    want = branch.convs[0][0].weight.grad.clone()
    branch.zero_grad()
    branch(x).square().sum().backward()
    assert torch.allclose(branch.convs[0][0].weight.grad, want, rtol=1e-4, atol=1e-4)


def test_noise_branch_student_forward_and_export(tmp_path: Path) -> None:
    from boxpromptiml.student import build_student
    from boxpromptiml.student.noise import NoiseResidual, srm_kernels

    k = srm_kernels()
    assert k.shape == (3, 5, 5) and torch.allclose(k.sum(dim=(1, 2)), torch.zeros(3), atol=1e-6)
    branch = NoiseResidual(8)
    flat = torch.full((1, 3, 32, 32), 0.5)
    assert branch.srm.shape == (9, 1, 5, 5)
    # a flat image has no residual: the branch's input is exactly zero
    r = torch.nn.functional.conv2d(flat * 255, branch.srm, padding=2, groups=3)
    assert r[..., 2:-2, 2:-2].abs().max() < 1e-4
    m = build_student("efficientnet-lite0-fast", noise=8).eval()
    x = torch.rand(2, 3, 64, 80)
    assert m(x).shape == (2, 1, 64, 80)
    ckpt = make_checkpoint(tmp_path / "n.pt", noise=8)
    model, meta = load_student(ckpt)
    assert meta["model_args"]["noise"] == 8 and model.noise is not None
    from boxpromptiml.export import export_onnx

    report = export_onnx(ckpt, tmp_path / "n.onnx")
    onnx_loc = Localizer.from_checkpoint(report.onnx)
    torch_loc = Localizer.from_checkpoint(ckpt)
    img = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert np.abs(onnx_loc.predict_maps([img])[0] - torch_loc.predict_maps([img])[0]).max() < 1e-3


def test_centred_noise_branch_builds_saves_and_exports(tmp_path: Path) -> None:
    from boxpromptiml.student import StudentArgs, resolve_student_args
    from boxpromptiml.student.noise import NoiseResidual

    torch.manual_seed(0)
    plain, centred = NoiseResidual(8), NoiseResidual(8, norm="center")
    centred.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 48, 64)
    a, b = plain.eval()(x), centred.eval()(x)
    assert b.mean(dim=(2, 3)).abs().max() < 1e-5  # each map has zero mean over the image
    assert torch.allclose(b, a - a.mean(dim=(2, 3), keepdim=True), atol=1e-6)
    assert a.mean(dim=(2, 3)).abs().max() > 1e-3  # ... which the plain branch has not
    with pytest.raises(ConfigError, match="noise_norm"):
        resolve_student_args("efficientnet-lite0-fast", noise=8, noise_norm="mean")
    # files written before the setting existed describe the same architecture
    assert "noise_norm" not in StudentArgs(noise=8).to_dict()
    assert StudentArgs.from_dict({**StudentArgs(noise=8).to_dict()}).noise_norm == "none"
    ckpt = make_checkpoint(tmp_path / "c.pt", noise=8, noise_norm="center")
    model, meta = load_student(ckpt)
    assert meta["model_args"]["noise_norm"] == "center" and model.noise is not None
    assert model.noise.norm == "center"
    from boxpromptiml.export import export_onnx

    report = export_onnx(ckpt, tmp_path / "c.onnx")
    img = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    got = Localizer.from_checkpoint(report.onnx).predict_maps([img])[0]
    assert np.abs(got - Localizer.from_checkpoint(ckpt).predict_maps([img])[0]).max() < 1e-3


def test_recipe_settings_added_later_keep_earlier_runs_valid() -> None:
    from boxpromptiml.recipes.general import GeneralRecipe

    r = GeneralRecipe()
    assert "noise_norm" not in r.to_dict()  # an earlier run's recipe.json still matches
    assert r.replace(noise_norm="center").to_dict()["noise_norm"] == "center"
    assert "camera" not in r.synth_config().to_dict()
    with pytest.raises(ConfigError, match="noise_norm"):
        GeneralRecipe(noise_norm="mean")
    assert "num_scales" not in r.to_dict()
    for bad in (0, 2.5, True):
        with pytest.raises(ConfigError, match="num_scales"):
            GeneralRecipe(num_scales=bad)  # type: ignore[arg-type]


def _one_pair_dataset(data: Path) -> Path:
    """A ``Tp/ Gt/`` dataset of one black 32² image and its empty mask, at ``data``."""
    for sub in ("Tp", "Gt"):
        (data / sub).mkdir(parents=True)
    img = np.zeros((32, 32, 3), np.uint8)
    cv2.imwrite(str(data / "Tp" / "a.png"), img)
    cv2.imwrite(str(data / "Gt" / "a.png"), img[..., 0])
    return data


def test_recipe_num_scales_reaches_the_student(tmp_path: Path) -> None:
    from boxpromptiml.recipes.general import GeneralRecipe

    data = _one_pair_dataset(tmp_path / "data")
    preset = GeneralRecipe().train_config(data, tmp_path / "run").model
    fewer = GeneralRecipe(num_scales=2).train_config(data, tmp_path / "run").model
    assert (preset.num_scales, fewer.num_scales) == (3, 2)
    assert fewer == dataclasses.replace(preset, num_scales=2)  # nothing else changes
    assert GeneralRecipe(photometric=0.5).train_config(data, tmp_path / "run").photometric == 0.5
    assert "photometric" not in GeneralRecipe().to_dict()
    with pytest.raises(ConfigError, match="photometric"):
        GeneralRecipe(photometric=2)


def test_recipe_data_seed_draws_other_data_from_the_same_start(tmp_path: Path) -> None:
    from boxpromptiml.recipes.general import GeneralRecipe
    from boxpromptiml.train.soup import _seed_start

    data = _one_pair_dataset(tmp_path / "data")
    base, other = GeneralRecipe(), GeneralRecipe(data_seed=1)
    assert "data_seed" not in base.to_dict()  # earlier runs' recipe.json still match
    assert (base.synth_config().seed, other.synth_config().seed) == (0, 1)
    assert other.train_config(data, tmp_path / "run").seed == 0
    assert GeneralRecipe(seed=3).synth_config().seed == 3  # none: the data follow seed
    # soup ingredients: other data, one start
    assert _seed_start(other.to_dict()) == _seed_start(base.to_dict()) is not None
    assert _seed_start(GeneralRecipe(seed=1).to_dict()) != _seed_start(base.to_dict())
    for bad in (1.5, True, "x"):
        with pytest.raises(ConfigError, match="data_seed"):
            GeneralRecipe(data_seed=bad)  # type: ignore[arg-type]


def test_shipped_students_load_and_predict(tmp_path: Path) -> None:
    from boxpromptiml.predict.shipped import DEFAULT_MODEL, SHIPPED_MODELS, shipped_model

    try:
        paths = {name: shipped_model(name) for name in SHIPPED_MODELS}
    except CheckpointError:
        pytest.skip("this checkout ships no model")
    assert sum(p.stat().st_size for p in paths.values()) < 15 * 2**20
    assert shipped_model() == paths[DEFAULT_MODEL]
    (img,) = write_images(tmp_path, [(300, 400)])
    for name, path in paths.items():
        ckpt = read_checkpoint(path)
        assert ckpt["recipe"] and ckpt["manifest_sha256"] and ckpt["versions"]["boxpromptiml"]
        loc = Localizer.pretrained(name)
        assert loc.tile and loc.image_score == ckpt["inference"]["image_score"]
        (pred,) = loc.predict([img])
        assert pred.prob.shape == (300, 400) and 0.0 <= pred.score <= 1.0
    # the default was trained with the image-level loss, general-v1 without it
    assert read_checkpoint(paths["general-v2"])["recipe"]["image_weight"] == 1.0
    assert read_checkpoint(paths["general-v1"])["recipe"].get("image_weight", 0.0) == 0.0
    # the default mirrors at test time; the fast one fuses two levels and does not, and is
    # the soup of three recipe runs of one seed on the default's data
    assert Localizer.pretrained().tta == "h"
    fast = read_checkpoint(paths["general-v3-fast"])
    assert (
        fast["model_args"]["num_scales"] == 2
        and Localizer.pretrained("general-v3-fast").tta == "none"
    )
    assert fast["kind"] == "soup" and len(fast["soup_sha256"]) == 3
    assert fast["manifest_sha256"] == read_checkpoint(paths["general-v2"])["manifest_sha256"]
    assert [r.get("photometric") for r in fast["recipe"]["soup_of"]] == [None, 0.8, 0.8]
    # general-v3 is the mirrored soup of general-v2 and its photometric sibling, scored
    # by the map's mean (the best pooled development-set image AUC, docs/results.md)
    v3 = read_checkpoint(paths["general-v3"])
    assert v3["inference"]["tta"] == "h" and v3["inference"]["image_score"] == "mean"
    assert [r.get("photometric") for r in v3["recipe"]["soup_of"]] == [None, 0.8]
    # the default, general-v4: the same pair of recipe runs with whole-object splices in
    # the synthesis, on one dataset of its own; mirrored, mean score, untouched reference
    default = read_checkpoint(paths["general-v4"])
    assert DEFAULT_MODEL == "general-v4" and Localizer.pretrained().image_score == "mean"
    assert (
        default["inference"]["tta"] == "h"
        and len(default["inference"]["reference"]["scores"]) == 51
    )
    soup_of = default["recipe"]["soup_of"]
    assert [r.get("photometric") for r in soup_of] == [None, 0.8]
    assert all(r["synth"]["splice_object"] == 0.6 for r in soup_of)
    assert default["manifest_sha256"] not in (None, v3["manifest_sha256"])


def test_export_of_a_shipped_student_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``boxprompt export --model general-v4`` is the one export command: the name
    resolves to the shipped file, the ONNX lands in the working directory (never in the
    installed package) and keeps the packaged settings."""
    from boxpromptiml.predict.shipped import shipped_model

    try:
        packaged = shipped_model("general-v4")
    except CheckpointError:
        pytest.skip("this checkout ships no model")
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--model", "general-v4"]) == 0
    assert "general-v4.onnx" in capsys.readouterr().out
    loc = Localizer.from_checkpoint(tmp_path / "general-v4.onnx")
    assert loc.tta == "h" and loc.image_score == "mean" and loc.tile
    assert not packaged.with_suffix(".onnx").exists()
    assert main(["export", "--model", "general-v9"]) != 0
    assert "general-v9" in capsys.readouterr().err


def test_missing_shipped_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import boxpromptiml.predict.shipped as shipped

    monkeypatch.setitem(shipped.SHIPPED_MODELS, shipped.DEFAULT_MODEL, "absent.pt")
    with pytest.raises(CheckpointError, match="shipped model is missing"):
        Localizer.pretrained()
    with pytest.raises(CheckpointError, match="not a shipped model; choose from"):
        Localizer.pretrained("general-v9")


def test_packaged_reference_reaches_predict_outputs(
    recipe_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reference added with ``set_inference`` travels with the model: ``boxprompt
    predict`` writes each image's untouched share to json and summary.csv and prints it."""
    from boxpromptiml.recipes import set_inference

    src = recipe_run / "model.pt"
    settings = Localizer.from_checkpoint(src).score_settings
    ref = {"name": "test photos", "scores": [i / 20 for i in range(20)], "settings": settings}
    model = set_inference(src, tmp_path / "ref.pt", reference=ref)
    with pytest.raises(ConfigError, match="at least 10"):
        set_inference(src, tmp_path / "bad.pt", reference={**ref, "scores": [0.5]})
    assert not (tmp_path / "bad.pt").exists()
    image = write_images(tmp_path / "img", [(96, 128)])[0]
    out = tmp_path / "pred"
    args = ["predict", str(image), "--model", str(model), "--no-overlay", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    rec = json.loads((out / "json" / f"{image.stem}.json").read_text())
    want = sum(s >= rec["score"] for s in ref["scores"]) / 20
    assert rec["untouched_share"] == pytest.approx(want)
    header, row = (out / "summary.csv").read_text().strip().splitlines()
    assert float(row.split(",")[header.split(",").index("untouched_share")]) == pytest.approx(want)
    printed = capsys.readouterr().out
    assert f"{100 * want:.0f} % of 20 untouched reference photos score as high" in printed
    # another image score: the reference no longer applies and the column stays empty
    assert main([*args, "--image-score", "max", "--out", str(tmp_path / "max")]) == 0
    header, row = (tmp_path / "max" / "summary.csv").read_text().strip().splitlines()
    assert row.split(",")[header.split(",").index("untouched_share")] == ""
    # the ONNX export carries it too
    onnx = tmp_path / "ref.onnx"
    assert main(["export", "--model", str(model), "--out", str(onnx)]) == 0
    assert Localizer.from_checkpoint(onnx, device="cpu").reference_applies
