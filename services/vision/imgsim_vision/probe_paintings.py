"""Paintings painted on the spot, for calibrating a quantized model and for judging it.

The fast path must be calibrated and checked on what the model will see, and a worker has no
collection of its own to take them from at start-up (its image root may be empty, huge or still
being filled), and nothing may be downloaded. So it paints them: brush strokes, hatching, dots,
hard-edged areas and washes over a gradient, in a palette of each painting's own, at painting-like
sizes and shapes, encoded as JPEG and decoded by the vectorizer's own decoder, as ingestion does.
The same seed paints the same paintings on every machine, so a quantized model cached by one
replica was calibrated on what another would have painted.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from imgsim_vision.images import decode_bytes

Pixels = npt.NDArray[np.uint8]
# Bumped when the paintings change: it is part of the quantized model's cache name.
RECIPE = 1
_MAX_PIXELS = 10**8


def paint(rng: np.random.Generator) -> Pixels:
    """One painting, (height, width, 3) RGB, 160-480 px a side."""
    width, height = (int(side) for side in rng.integers(160, 481, 2))
    palette = rng.integers(0, 256, (5, 3)).astype(np.float32)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    canvas = palette[0] * (1 - ramp) + palette[1] * ramp + np.zeros((height, width, 3), np.float32)
    technique = int(rng.integers(0, 5))
    marks = int(rng.integers(20, 200))
    unit = max(2, int(min(width, height) * rng.uniform(0.005, 0.04)))
    angle = rng.uniform(0, np.pi)
    for _ in range(marks):
        colour = tuple(float(c) for c in palette[rng.integers(0, 5)] + rng.normal(0, 20, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if technique in (0, 1):  # strokes; hatching keeps one direction
            turn = angle + (rng.normal(0, 0.2) if technique == 1 else rng.uniform(0, np.pi))
            length = unit * rng.uniform(3, 15)
            end = (int(x + length * np.cos(turn)), int(y + length * np.sin(turn)))
            cv2.line(canvas, (x, y), end, colour, max(1, unit // 2), cv2.LINE_AA)
        elif technique == 2:  # dots
            cv2.circle(canvas, (x, y), unit, colour, -1, cv2.LINE_AA)
        else:  # hard-edged areas; a wash is the same, blurred below
            corner = (x + int(unit * rng.uniform(2, 12)), y + int(unit * rng.uniform(2, 12)))
            cv2.rectangle(canvas, (x, y), corner, colour, -1)
    if technique == 4:
        canvas = cv2.GaussianBlur(canvas, (0, 0), unit * 2.0)
    canvas += rng.normal(0, rng.uniform(1, 8), canvas.shape).astype(np.float32)
    painting: Pixels = np.clip(canvas, 0, 255).astype(np.uint8)
    return painting


def probe_paintings(count: int, size: int, seed: int) -> Pixels:
    """`count` paintings as the network's input, (count, size, size, 3), through JPEG and the
    vectorizer's decoder."""
    rng = np.random.default_rng(seed)
    decoded = []
    for _ in range(count):
        bgr = cv2.cvtColor(paint(rng), cv2.COLOR_RGB2BGR)
        quality = int(rng.integers(70, 96))
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
            raise RuntimeError("cannot encode a probe painting")
        decoded.append(decode_bytes(encoded.tobytes(), size, _MAX_PIXELS, "probe").pixels)
    return np.stack(decoded)
