"""MobileSAM from a user's checkpoint: the teacher and the TinyViT-5M student's init.

No MobileSAM weights are reachable here, so the checkpoint is written by the test: every
tensor of the official ``mobile_sam.pt`` layout (names and shapes as the official
``mobile_sam/modeling/tiny_vit_sam.py`` and ``build_sam.py`` ``vit_t`` make them), filled
with random values. The layout is spelt out below from the architecture, independently of
the renaming under test, so a wrong rename fails to load or lands a tensor in the wrong place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from boxpromptiml.errors import CheckpointError

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")
pytest.importorskip("timm")

from boxpromptiml.teachers import build_teacher  # noqa: E402

DIMS, DEPTHS, HEADS, WINDOWS = (64, 128, 160, 320), (2, 2, 6, 2), (2, 4, 5, 10), (7, 7, 14, 7)


def official_layout() -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor of an official MobileSAM checkpoint's image encoder."""
    shapes: dict[str, tuple[int, ...]] = {}
    enc = "image_encoder."

    def conv_bn(prefix: str, out: int, per_group: int, k: int) -> None:
        shapes[f"{enc}{prefix}.c.weight"] = (out, per_group, k, k)
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{enc}{prefix}.bn.{name}"] = (out,)
        shapes[f"{enc}{prefix}.bn.num_batches_tracked"] = ()

    conv_bn("patch_embed.seq.0", DIMS[0] // 2, 3, 3)
    conv_bn("patch_embed.seq.2", DIMS[0], DIMS[0] // 2, 3)
    for b in range(DEPTHS[0]):  # MBConv blocks, expansion 4
        conv_bn(f"layers.0.blocks.{b}.conv1", 4 * DIMS[0], DIMS[0], 1)
        conv_bn(f"layers.0.blocks.{b}.conv2", 4 * DIMS[0], 1, 3)
        conv_bn(f"layers.0.blocks.{b}.conv3", DIMS[0], 4 * DIMS[0], 1)
    for i in range(1, 4):
        d, w = DIMS[i], WINDOWS[i]
        for b in range(DEPTHS[i]):
            p = f"{enc}layers.{i}.blocks.{b}"
            shapes[f"{p}.attn.attention_biases"] = (HEADS[i], w * w)
            shapes[f"{p}.attn.norm.weight"] = shapes[f"{p}.attn.norm.bias"] = (d,)
            shapes[f"{p}.attn.qkv.weight"], shapes[f"{p}.attn.qkv.bias"] = (3 * d, d), (3 * d,)
            shapes[f"{p}.attn.proj.weight"], shapes[f"{p}.attn.proj.bias"] = (d, d), (d,)
            shapes[f"{p}.mlp.norm.weight"] = shapes[f"{p}.mlp.norm.bias"] = (d,)
            shapes[f"{p}.mlp.fc1.weight"], shapes[f"{p}.mlp.fc1.bias"] = (4 * d, d), (4 * d,)
            shapes[f"{p}.mlp.fc2.weight"], shapes[f"{p}.mlp.fc2.bias"] = (d, 4 * d), (d,)
            conv_bn(f"layers.{i}.blocks.{b}.local_conv", d, 1, 3)
    for i in range(3):  # each layer ends with the downsampling into the next width
        conv_bn(f"layers.{i}.downsample.conv1", DIMS[i + 1], DIMS[i], 1)
        conv_bn(f"layers.{i}.downsample.conv2", DIMS[i + 1], 1, 3)
        conv_bn(f"layers.{i}.downsample.conv3", DIMS[i + 1], DIMS[i + 1], 1)
    shapes[f"{enc}norm_head.weight"] = shapes[f"{enc}norm_head.bias"] = (320,)
    shapes[f"{enc}head.weight"], shapes[f"{enc}head.bias"] = (1000, 320), (1000,)
    shapes[f"{enc}neck.0.weight"] = (256, 320, 1, 1)
    shapes[f"{enc}neck.1.weight"] = shapes[f"{enc}neck.1.bias"] = (256,)
    shapes[f"{enc}neck.2.weight"] = (256, 256, 3, 3)
    shapes[f"{enc}neck.3.weight"] = shapes[f"{enc}neck.3.bias"] = (256,)
    return shapes


@pytest.fixture(scope="module")
def mobile_sam_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A MobileSAM-layout checkpoint with random values (prompt encoder and mask decoder:
    SAM's own modules, whose names MobileSAM shares)."""
    from boxpromptiml.teachers.sam import build_sam_model

    gen = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}
    for name, shape in official_layout().items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(7)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[name] = torch.randn(shape, generator=gen) * 0.05
    # an index buffer some saves of TinyViT carry (rebuilt by the attention, so ignored)
    state["image_encoder.layers.1.blocks.0.attn.attention_bias_idxs"] = torch.zeros(49, 49).long()
    sam = build_sam_model("vit_b", 224).state_dict()
    state.update({k: v for k, v in sam.items() if not k.startswith("image_encoder.")})
    path = tmp_path_factory.mktemp("msam") / "mobile_sam.pt"
    torch.save(state, path)
    return path, state


def test_teacher_loads_every_tensor_of_the_official_layout(mobile_sam_file) -> None:
    path, state = mobile_sam_file
    t = build_teacher("mobile_sam", checkpoint=path, image_size=224, device="cpu")
    got = t.model.state_dict()  # type: ignore[attr-defined]
    pairs = {  # official name -> where it must land
        "image_encoder.patch_embed.seq.2.c.weight": "image_encoder.trunk.patch_embed.conv2.conv.weight",
        "image_encoder.layers.0.blocks.1.conv3.bn.running_var": "image_encoder.trunk.stages.0.blocks.1.conv3.bn.running_var",
        "image_encoder.layers.0.downsample.conv2.c.weight": "image_encoder.trunk.stages.1.downsample.conv2.conv.weight",
        "image_encoder.layers.2.downsample.conv1.c.weight": "image_encoder.trunk.stages.3.downsample.conv1.conv.weight",
        "image_encoder.layers.2.blocks.5.attn.attention_biases": "image_encoder.trunk.stages.2.blocks.5.attn.attention_biases",
        "image_encoder.layers.3.blocks.1.mlp.fc2.weight": "image_encoder.trunk.stages.3.blocks.1.mlp.fc2.weight",
        "image_encoder.neck.2.weight": "image_encoder.neck.2.weight",
        "mask_decoder.iou_prediction_head.layers.0.weight": "mask_decoder.iou_prediction_head.layers.0.weight",
    }  # fmt: skip
    for official, ours in pairs.items():
        torch.testing.assert_close(got[ours], state[official])
    # every non-classifier tensor of the file is used, and nothing else was needed
    skipped = ("image_encoder.head.", "image_encoder.norm_head.")
    used = {k for k in state if not k.startswith(skipped) and not k.endswith("bias_idxs")}
    assert len(used) == len(got)
    assert t.info.checkpoint != "random-init" and t.info.name == "mobile_sam"


def test_teacher_runs_the_real_architecture(mobile_sam_file) -> None:
    path, _ = mobile_sam_file
    t = build_teacher("mobile_sam", checkpoint=path, image_size=224, device="cpu")
    img = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    boxes = np.array([[10.0, 20.0, 50.0, 60.0], [60.0, 10.0, 120.0, 90.0]])
    out = t.predict(img, boxes)
    assert len(out.boxes) == 2 and out.combined().shape == (96, 128)
    assert all(0.0 <= b.confidence <= 1.0 for b in out.boxes)
    # stride 16 like SAM's ViT (the last downsampling keeps the resolution): 224 -> 14
    feats = t.model.image_encoder(torch.zeros(1, 3, 224, 224))  # type: ignore[attr-defined]
    assert tuple(feats.shape) == (1, 256, 14, 14)
    batch = t.predict_batch([img, img], [boxes, boxes[:1]])
    np.testing.assert_allclose(batch[0].combined(), out.combined(), atol=1e-4)


def test_teacher_refuses_wrong_files_clearly(tmp_path: Path, mobile_sam_file) -> None:
    with pytest.raises(CheckpointError, match=r"mobile_sam\.pt from github\.com/ChaoningZhang"):
        build_teacher("mobile_sam")
    fake_h = {"image_encoder.pos_embed": torch.zeros(1, 64, 64, 1280)}
    fake_h.update({f"image_encoder.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(32)})
    torch.save(fake_h, tmp_path / "h.pth")
    with pytest.raises(CheckpointError, match=r"SAM vit_h at 1024 px \(use --teacher sam\)"):
        build_teacher("mobile_sam", checkpoint=tmp_path / "h.pth")
    path, state = mobile_sam_file
    part = {k: v for k, v in state.items() if "layers.3" not in k}
    torch.save(part, tmp_path / "part.pt")
    with pytest.raises(CheckpointError, match=r"does not fit MobileSAM: .*Missing key"):
        build_teacher("mobile_sam", checkpoint=tmp_path / "part.pt", image_size=224)
    # and the sam teacher points a MobileSAM file to this one
    with pytest.raises(CheckpointError, match="use the mobile_sam teacher"):
        build_teacher("sam", checkpoint=path, variant="vit_b")


def test_tinyvit_student_starts_from_the_mobile_sam_encoder(mobile_sam_file) -> None:
    from boxpromptiml.student import build_student

    path, state = mobile_sam_file
    student = build_student("tinyvit5m", pretrained=path)
    got = student.backbone.state_dict()
    torch.testing.assert_close(
        got["stages_3.downsample.conv1.conv.weight"],
        state["image_encoder.layers.2.downsample.conv1.c.weight"],
    )
    torch.testing.assert_close(
        got["patch_embed.conv1.bn.running_mean"],
        state["image_encoder.patch_embed.seq.0.bn.running_mean"],
    )
    with pytest.raises(CheckpointError, match="fits the tinyvit5m student"):
        build_student("efficientnet-lite0", pretrained=path)


def test_a_file_without_batchnorm_counters_loads(tmp_path: Path, mobile_sam_file) -> None:
    from boxpromptiml.student import build_student

    _, state = mobile_sam_file
    bare = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(bare) < len(state)
    torch.save(bare, tmp_path / "bare.pt")
    t = build_teacher("mobile_sam", checkpoint=tmp_path / "bare.pt", image_size=224, device="cpu")
    got = t.model.state_dict()  # type: ignore[attr-defined]
    assert int(got["image_encoder.trunk.stages.1.downsample.conv1.bn.num_batches_tracked"]) == 0
    student = build_student("tinyvit5m", pretrained=tmp_path / "bare.pt")
    torch.testing.assert_close(
        student.backbone.state_dict()["patch_embed.conv2.bn.running_var"],
        state["image_encoder.patch_embed.seq.2.bn.running_var"],
    )
