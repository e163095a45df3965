"""Segment Anything (Kirillov et al., ICCV 2023) prompted by each box: the paper's teacher.

Needs the ``sam`` extra (``segment-anything``, ``torch``) and a checkpoint supplied by the
user: ``sam_vit_h_4b8939.pth`` (the paper's, variant ``vit_h``), ``sam_vit_l_0b3195.pth``
(``vit_l``) or ``sam_vit_b_01ec64.pth`` (``vit_b``), from the official repository. Nothing
is downloaded. ``random_init=True`` builds the real architecture with random weights
(seeded), for tests of the whole path without a checkpoint.

Per image: **one** image-encoder pass (the image resized so its longer side is
``image_size``, normalised and padded, as the official predictor does), shared by all its
boxes; the boxes go through the prompt encoder and mask decoder together. Of SAM's three
multimask outputs the one with the highest predicted IoU is kept; its logits are upsampled
to the image's size and passed through a sigmoid (so 0.5 is SAM's own decision
threshold), then cut to the box grown by ``clip_margin``. ``predict_batch`` runs the
encoder on ``batch_size`` images at once (useful on a GPU).

Confidence: SAM's predicted IoU of the kept mask, clipped to ``[0, 1]``.

Loading uses ``torch.load(weights_only=True, map_location="cpu")``. A checkpoint that is
not the chosen variant raises :class:`~boxpromptiml.errors.CheckpointError` naming both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from boxpromptiml.errors import CheckpointError, ConfigError
from boxpromptiml.teachers.base import BoxMap, Teacher, TeacherOutput, check_image

#: variant -> (encoder width, depth, heads, global-attention block indexes), as in
#: segment_anything/build_sam.py
VARIANTS: dict[str, tuple[int, int, int, tuple[int, ...]]] = {
    "vit_h": (1280, 32, 16, (7, 15, 23, 31)),
    "vit_l": (1024, 24, 16, (5, 11, 17, 23)),
    "vit_b": (768, 12, 12, (2, 5, 8, 11)),
}
PATCH = 16
PROMPT_DIM = 256


def build_sam_model(variant: str, image_size: int = 1024) -> Any:
    """The SAM network of ``variant`` with random weights, for inputs of ``image_size``.

    Mirrors ``segment_anything.build_sam`` (same parts and sizes) but lets the image size
    differ from 1024, which only tests use (to run the real architecture quickly).
    """
    from functools import partial

    import torch
    from segment_anything.modeling import ImageEncoderViT

    if variant not in VARIANTS:
        raise ConfigError(f"unknown SAM variant '{variant}'; choose from {', '.join(VARIANTS)}")
    if image_size % PATCH or image_size < 4 * PATCH:
        raise ConfigError(
            f"image_size must be a multiple of {PATCH}, at least {4 * PATCH}; got {image_size}"
        )
    width, depth, heads, global_idx = VARIANTS[variant]
    encoder = ImageEncoderViT(
        depth=depth,
        embed_dim=width,
        img_size=image_size,
        mlp_ratio=4,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        num_heads=heads,
        patch_size=PATCH,
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=global_idx,
        window_size=14,
        out_chans=PROMPT_DIM,
    )
    return assemble_sam(encoder, image_size)


def assemble_sam(image_encoder: Any, image_size: int) -> Any:
    """A ``segment_anything`` ``Sam`` (eval mode) of ``image_encoder`` (``(B, 3, S, S)`` →
    ``(B, 256, S/16, S/16)``, with an ``img_size`` attribute) and SAM's prompt encoder and
    mask decoder at their official sizes, for padded inputs of side ``image_size``."""
    from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    grid = image_size // PATCH
    sam = Sam(
        image_encoder=image_encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=PROMPT_DIM,
            image_embedding_size=(grid, grid),
            input_image_size=(image_size, image_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=PROMPT_DIM, mlp_dim=2048, num_heads=8
            ),
            transformer_dim=PROMPT_DIM,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def describe_checkpoint(state: dict[str, Any]) -> str:
    """A short description of what a state dict holds (``"SAM vit_h at 1024 px"``, ...)."""
    pos = state.get("image_encoder.pos_embed")
    if pos is not None and hasattr(pos, "shape") and len(pos.shape) == 4:
        width, size = int(pos.shape[-1]), int(pos.shape[1]) * PATCH
        depth = len({k.split(".")[2] for k in state if k.startswith("image_encoder.blocks.")})
        named = [v for v, (wd, dp, _, _) in VARIANTS.items() if (wd, dp) == (width, depth)]
        kind = named[0] if named else f"an unknown ViT (width {width}, {depth} blocks)"
        return f"SAM {kind} at {size} px"
    if any(k.startswith("image_encoder.layers.") for k in state):
        return "a MobileSAM checkpoint (TinyViT image encoder; use the mobile_sam teacher)"
    if any(k.startswith("image_encoder.") for k in state):
        return "a SAM-like checkpoint with an unknown image encoder"
    return "not a SAM checkpoint (no image_encoder weights)"


def load_state(path: Path) -> dict[str, Any]:
    import torch

    """The state dict in a SAM-family checkpoint (``weights_only=True``), unwrapped from
    ``model``/``state_dict``; :class:`CheckpointError` naming the file otherwise."""
    if not path.is_file():
        raise CheckpointError(f"{path}: SAM checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors alike
        raise CheckpointError(f"{path}: not a loadable PyTorch checkpoint ({exc})") from exc
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: checkpoint holds a {type(state).__name__}, not a state dict"
        )
    return state


class SamTeacher(Teacher):
    """Box-prompted SAM (see the module docstring).

    Args:
        checkpoint: path of the official ``.pth`` file of ``variant``.
        variant: ``vit_h`` (the paper's), ``vit_l`` or ``vit_b``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        image_size: encoder input size; 1024 for every official checkpoint.
        multimask: ask SAM for three masks and keep the best (else one mask).
        random_init: random weights instead of a checkpoint (tests only; ``seed`` seeds them).
        batch_size: images per encoder pass in :meth:`predict_batch`.
        **common: see :class:`~boxpromptiml.teachers.base.Teacher`.
    """

    name = "sam"
    version = "1"
    #: the variants this class builds
    variants: tuple[str, ...] = tuple(VARIANTS)
    #: the checkpoint file a user should get, for the message when none is given
    checkpoint_hint = "sam_vit_h_4b8939.pth from github.com/facebookresearch/segment-anything"

    def __init__(
        self,
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        variant: str = "vit_h",
        device: str = "auto",
        image_size: int = 1024,
        multimask: bool = True,
        random_init: bool = False,
        seed: int = 0,
        batch_size: int = 4,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if variant not in self.variants:
            raise ConfigError(
                f"unknown SAM variant '{variant}'; choose from {', '.join(self.variants)}"
            )
        if device not in ("cpu", "cuda", "auto"):
            raise ConfigError(f"device must be cpu, cuda or auto, got {device!r}")
        if checkpoint is None and not random_init:
            raise CheckpointError(
                f"the {self.name} teacher needs a checkpoint: pass checkpoint=PATH "
                f"(--checkpoint PATH on the command line), e.g. {self.checkpoint_hint}"
            )
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        try:
            import segment_anything  # noqa: F401
            import torch
        except ImportError as exc:
            raise ConfigError(
                f"the {self.name} teacher needs the 'sam' extra ({exc.name} is missing): "
                "pip install 'boxpromptiml[sam]'"
            ) from exc
        self.variant = variant
        self.image_size = int(image_size)
        self.multimask = bool(multimask)
        self.batch_size = int(batch_size)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device 'cuda' asked for {self.name} but torch sees no CUDA device")
        self.device = device
        if random_init:
            torch.manual_seed(int(seed))
            self.model = self._new_model()
            self._checkpoint_id = "random-init"
        else:
            assert checkpoint is not None
            path = Path(checkpoint)
            state = load_state(path)
            self.model = self._new_model()
            self._load_weights(path, state)
            from boxpromptiml.weights import sha256_file

            self._checkpoint_id = sha256_file(path)
        self.model.to(self.device)

    def _new_model(self) -> Any:
        """The network with random weights (``self.variant`` at ``self.image_size``)."""
        return build_sam_model(self.variant, self.image_size)

    def _load_weights(self, path: Path, state: dict[str, Any]) -> None:
        expected = f"SAM {self.variant} at {self.image_size} px"
        found = describe_checkpoint(state)
        if found != expected:
            raise CheckpointError(
                f"{path}: checkpoint does not fit the chosen SAM variant: variant "
                f"'{self.variant}' (image_size {self.image_size}) was asked, the file holds {found}"
            )
        self._strict_load(path, state, f"SAM variant '{self.variant}'")

    def _strict_load(self, path: Path, state: dict[str, Any], what: str) -> None:
        """``load_state_dict(strict=True)``, its error cut to one line naming ``path``."""
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = " ".join(line.strip() for line in str(exc).strip().splitlines()[:2])
            raise CheckpointError(f"{path}: checkpoint does not fit {what}: {first}") from exc

    def checkpoint_id(self) -> str:
        return self._checkpoint_id

    def options(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "image_size": self.image_size,
            "multimask": self.multimask,
            **super().options(),
        }

    # ------------------------------------------------------------------ backend

    def _predict(self, image: np.ndarray, boxes: np.ndarray) -> list[BoxMap]:
        return self._predict_many([image], [boxes])[0]

    def _predict_many(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]
    ) -> list[list[BoxMap]]:
        """One encoder pass over ``images`` (a batch), then the decoder per image."""
        import torch
        from segment_anything.utils.transforms import ResizeLongestSide

        transform = ResizeLongestSide(self.image_size)
        inputs, sizes = [], []
        for im in images:
            x = transform.apply_image(im)
            sizes.append(x.shape[:2])
            t = torch.as_tensor(x, device=self.device).permute(2, 0, 1).contiguous()
            inputs.append(self.model.preprocess(t[None]))
        results: list[list[BoxMap]] = []
        with torch.inference_mode():
            feats = self.model.image_encoder(torch.cat(inputs))
            for k, (im, b) in enumerate(zip(images, boxes, strict=True)):
                results.append(self._decode(feats[k : k + 1], im.shape[:2], sizes[k], b, transform))
        return results

    def _decode(
        self,
        feat: Any,
        orig_hw: tuple[int, int],
        input_hw: tuple[int, int],
        boxes: np.ndarray,
        transform: Any,
    ) -> list[BoxMap]:
        import torch

        h, w = orig_hw
        out: list[BoxMap] = []
        for start in range(0, len(boxes), 16):  # bounds memory on large images
            chunk = boxes[start : start + 16]
            tb = transform.apply_boxes_torch(
                torch.as_tensor(chunk, dtype=torch.float32, device=self.device), orig_hw
            )
            sparse, dense = self.model.prompt_encoder(points=None, boxes=tb, masks=None)
            low, iou = self.model.mask_decoder(
                image_embeddings=feat,
                image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=self.multimask,
            )
            best = iou.argmax(dim=1)
            rows = torch.arange(len(chunk), device=low.device)
            logits = self.model.postprocess_masks(low[rows, best][:, None], input_hw, orig_hw)
            probs = torch.sigmoid(logits[:, 0]).float().cpu().numpy()
            scores = iou[rows, best].float().cpu().numpy()
            for box, p, s in zip(chunk, probs, scores, strict=True):
                win = self.clip_window(box, h, w)
                x0, y0, x1, y1 = win
                conf = float(np.clip(s, 0.0, 1.0))
                out.append(BoxMap(box, win, np.ascontiguousarray(p[y0:y1, x0:x1]), conf, self.name))
        return out

    def predict_batch(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]
    ) -> list[TeacherOutput]:
        """Like :meth:`predict` per image, with ``batch_size`` images per encoder pass."""
        if len(images) != len(boxes):
            raise ValueError(f"{len(images)} images but {len(boxes)} box arrays")
        outputs: list[TeacherOutput] = []
        for start in range(0, len(images), self.batch_size):
            ims = [check_image(im) for im in images[start : start + self.batch_size]]
            checked = [
                self._check_boxes(b, im.shape[0], im.shape[1])
                for im, b in zip(ims, boxes[start : start + self.batch_size], strict=True)
            ]
            todo = [k for k, (kept, _) in enumerate(checked) if len(kept)]
            raw = (
                self._predict_many([ims[k] for k in todo], [checked[k][0] for k in todo])
                if todo
                else []
            )
            by_index = dict(zip(todo, raw, strict=True))
            for k, im in enumerate(ims):
                maps = [self.finish(im, bm) for bm in self._after_backend(im, by_index.get(k, []))]
                outputs.append(
                    TeacherOutput(im.shape[0], im.shape[1], maps, self.info, checked[k][1])
                )
        return outputs
