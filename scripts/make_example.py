"""Regenerate the tiny example shipped in src/boxpromptiml/assets/example (seeded)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "src" / "boxpromptiml" / "assets" / "example"


def main() -> None:
    rng = np.random.default_rng(0)
    for sub in ("Tp", "Gt", "Au", "pred"):
        (OUT / sub).mkdir(parents=True, exist_ok=True)
    for i in range(6):
        base = cv2.GaussianBlur(rng.normal(110, 40, (96, 96, 3)), (0, 0), 2).clip(0, 255)
        mask = np.zeros((96, 96), np.uint8)
        if i < 5:
            cx, cy = rng.integers(25, 70, 2)
            if i % 2:
                cv2.circle(mask, (int(cx), int(cy)), int(rng.integers(8, 20)), 255, -1)
            else:
                w, h = rng.integers(12, 30, 2)
                cv2.rectangle(
                    mask,
                    (int(cx - w // 2), int(cy - h // 2)),
                    (int(cx + w // 2), int(cy + h // 2)),
                    255,
                    -1,
                )
            base[mask > 0] = rng.uniform(150, 230, 3)
            Image.fromarray(base.astype(np.uint8)).save(OUT / "Tp" / f"ex{i}.png")
            Image.fromarray(mask).save(OUT / "Gt" / f"ex{i}.png")
        else:
            Image.fromarray(base.astype(np.uint8)).save(OUT / "Au" / f"ex{i}.png")
        pred = cv2.GaussianBlur(mask.astype(np.float64) / 255, (0, 0), 3 + i)
        pred = np.clip(pred + rng.normal(0, 0.08, pred.shape), 0, 1)
        Image.fromarray((pred * 255).round().astype(np.uint8)).save(OUT / "pred" / f"ex{i}.png")


if __name__ == "__main__":
    main()
