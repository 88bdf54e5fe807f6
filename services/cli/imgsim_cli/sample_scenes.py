"""What a generated painting shows, before any technique touches it: a palette and a genre's
composition.

A scene is flat colour from one palette laid out as its genre lays things out (a horizon, a
figure, objects on a table, blocks of a city). The technique that paints it over
(`sample_techniques`) never chooses colours of its own, so colour says little about style.
"""

import colorsys
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

Palette = npt.NDArray[np.float32]  # (colours, 3), RGB in 0..255
Colour = tuple[int, int, int]
Compose = Callable[[ImageDraw.ImageDraw, int, int, list[Colour], np.random.Generator], None]

PALETTE_COLOURS = 5
# Harmonies as hue offsets (in turns) from a base hue; lightness and saturation vary apart.
_HARMONIES = ((0, 0.04, -0.04, 0.08, -0.08), (0, 0.5, 0.03, 0.47, 0.5), (0, 1 / 3, 2 / 3, 0, 0.05))


def palette_pool(rng: np.random.Generator, size: int) -> list[Palette]:
    """Palettes from dark to light and muted to vivid, each with a light and a dark colour."""
    pool = []
    for _ in range(size):
        hue = rng.random()
        offsets = _HARMONIES[int(rng.integers(len(_HARMONIES)))]
        saturation = rng.uniform(0.15, 0.9)
        lightness = np.sort(rng.uniform(0.15, 0.9, PALETTE_COLOURS))
        lightness[0], lightness[-1] = rng.uniform(0.08, 0.25), rng.uniform(0.75, 0.95)
        colours = [
            colorsys.hls_to_rgb(
                (hue + offsets[i] + rng.normal(0, 0.02)) % 1,
                lightness[i],
                float(np.clip(saturation + rng.normal(0, 0.15), 0.05, 1)),
            )
            for i in rng.permutation(PALETTE_COLOURS)
        ]
        pool.append(np.asarray(colours, np.float32) * 255)
    return pool


def compose(
    genre: str, palette: Palette, size: tuple[int, int], rng: np.random.Generator
) -> Image.Image:
    """The scene of one painting: `genre`'s layout in the colours of `palette`."""
    width, height = size
    # Which colour plays sky, ground or figure changes from painting to painting.
    colours: list[Colour] = [
        (int(r), int(g), int(b)) for r, g, b in palette[rng.permutation(len(palette))]
    ]
    scene = _gradient(size, colours[0], colours[1], rng)
    GENRES[genre](ImageDraw.Draw(scene), width, height, colours, rng)
    return scene


def _gradient(
    size: tuple[int, int], top: Colour, bottom: Colour, rng: np.random.Generator
) -> Image.Image:
    width, height = size
    reach = rng.uniform(0.3, 1.0)  # how far the second colour climbs
    t = np.clip(np.linspace(0, 1, height, dtype=np.float32) / reach, 0, 1)[:, None, None]
    rows = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)
    return Image.fromarray(np.repeat(rows, width, axis=1).astype(np.uint8))


def _profile(width: int, base: float, amplitude: float, rng: np.random.Generator) -> list[float]:
    """A skyline of hills: a few sine waves of random length and phase around `base`."""
    x = np.linspace(0, 1, 48)
    y = np.full_like(x, base)
    for _ in range(3):
        y += (
            amplitude
            * rng.uniform(0.2, 1)
            * np.sin(2 * np.pi * (rng.uniform(0.5, 3) * x + rng.random()))
        )
    return [float(v) for pair in zip(x * width, y, strict=True) for v in pair]


def _landscape(
    draw: ImageDraw.ImageDraw, w: int, h: int, c: list[Colour], rng: np.random.Generator
) -> None:
    if rng.random() < 0.6:  # a sun or moon
        r, cx, cy = (
            rng.uniform(0.04, 0.1) * w,
            rng.uniform(0.1, 0.9) * w,
            rng.uniform(0.08, 0.3) * h,
        )
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=c[4])
    horizon = rng.uniform(0.35, 0.6) * h
    for layer in range(int(rng.integers(2, 4))):
        base = horizon + layer * rng.uniform(0.08, 0.16) * h
        draw.polygon([*_profile(w, base, 0.06 * h, rng), w, h, 0, h], fill=c[2 + layer % 3])
    for _ in range(int(rng.integers(0, 6))):  # trees
        x, top = rng.uniform(0, w), horizon + rng.uniform(0, 0.3) * h
        trunk, crown = 0.012 * w, rng.uniform(0.03, 0.07) * w
        draw.rectangle([x - trunk, top, x + trunk, top + 3 * crown], fill=c[1])
        draw.ellipse([x - crown, top - 1.5 * crown, x + crown, top + 0.8 * crown], fill=c[3])


def _marina(
    draw: ImageDraw.ImageDraw, w: int, h: int, c: list[Colour], rng: np.random.Generator
) -> None:
    horizon = rng.uniform(0.3, 0.55) * h
    draw.rectangle([0, horizon, w, h], fill=c[2])
    sun_x = rng.uniform(0.15, 0.85) * w
    r = rng.uniform(0.04, 0.09) * w
    draw.ellipse([sun_x - r, horizon * 0.5 - r, sun_x + r, horizon * 0.5 + r], fill=c[4])
    for y in np.sort(rng.uniform(horizon, h, int(rng.integers(6, 16)))):  # swell and glitter
        length = rng.uniform(0.1, 0.5) * w * (y / h)
        x = rng.uniform(-0.1, 1) * w
        thick = 0.004 * h + 0.02 * h * (y - horizon) / h
        draw.ellipse([x, y - thick, x + length, y + thick], fill=c[3 if rng.random() < 0.5 else 4])
    if rng.random() < 0.7:  # a sailing boat
        x, y, s = rng.uniform(0.15, 0.85) * w, horizon + rng.uniform(0.05, 0.3) * h, 0.1 * w
        draw.polygon(
            [x - s, y, x + s, y, x + 0.7 * s, y + 0.3 * s, x - 0.7 * s, y + 0.3 * s], fill=c[1]
        )
        draw.polygon([x, y, x, y - 1.6 * s, x + 0.9 * s, y - 0.1 * s], fill=c[4])


def _portrait(
    draw: ImageDraw.ImageDraw, w: int, h: int, c: list[Colour], rng: np.random.Generator
) -> None:
    cx = w * rng.uniform(0.4, 0.6)
    head_w, head_h = rng.uniform(0.14, 0.22) * w, rng.uniform(0.16, 0.24) * h
    head_y = rng.uniform(0.3, 0.42) * h
    draw.ellipse([cx - 2.6 * head_w, head_y + 1.4 * head_h, cx + 2.6 * head_w, 2.2 * h], fill=c[2])
    draw.rectangle(
        [cx - 0.35 * head_w, head_y, cx + 0.35 * head_w, head_y + 1.6 * head_h], fill=c[3]
    )
    hair = c[1] if rng.random() < 0.5 else c[4]
    draw.ellipse(
        [cx - 1.1 * head_w, head_y - 1.2 * head_h, cx + 1.1 * head_w, head_y + 0.6 * head_h],
        fill=hair,
    )
    draw.ellipse([cx - head_w, head_y - head_h, cx + head_w, head_y + head_h], fill=c[3])
    for side in (-1, 1):  # eyes
        ex, ey, er = cx + side * 0.4 * head_w, head_y - 0.15 * head_h, 0.12 * head_w
        draw.ellipse([ex - er, ey - 0.6 * er, ex + er, ey + 0.6 * er], fill=c[1])


def _still_life(
    draw: ImageDraw.ImageDraw, w: int, h: int, c: list[Colour], rng: np.random.Generator
) -> None:
    table = rng.uniform(0.55, 0.72) * h
    inset = rng.uniform(0, 0.15) * w
    draw.polygon([inset, table, w - inset, table, w, h, 0, h], fill=c[2])
    for _ in range(int(rng.integers(2, 6))):
        x, s = rng.uniform(0.15, 0.85) * w, rng.uniform(0.05, 0.12) * w
        y = table + rng.uniform(0.02, 0.12) * h  # standing on the table, a little forward
        colour = c[int(rng.integers(1, 5))]
        kind = rng.integers(3)
        draw.ellipse([x - 1.2 * s, y - 0.25 * s, x + 1.2 * s, y + 0.25 * s], fill=c[1])  # shadow
        if kind == 0:  # fruit
            draw.ellipse([x - s, y - 2 * s, x + s, y], fill=colour)
        elif kind == 1:  # vase
            draw.ellipse([x - s, y - 2.2 * s, x + s, y], fill=colour)
            draw.rectangle([x - 0.35 * s, y - 3.4 * s, x + 0.35 * s, y - 1.8 * s], fill=colour)
        else:  # bottle
            draw.rectangle([x - 0.5 * s, y - 3 * s, x + 0.5 * s, y], fill=colour)
            draw.rectangle([x - 0.18 * s, y - 4.4 * s, x + 0.18 * s, y - 2.9 * s], fill=colour)


def _cityscape(
    draw: ImageDraw.ImageDraw, w: int, h: int, c: list[Colour], rng: np.random.Generator
) -> None:
    street = rng.uniform(0.78, 0.92) * h
    draw.rectangle([0, street, w, h], fill=c[1])
    x = -rng.uniform(0, 0.05) * w
    while x < w:
        width, top = rng.uniform(0.06, 0.16) * w, rng.uniform(0.15, 0.6) * h
        colour = c[int(rng.integers(2, 5))]
        draw.rectangle([x, top, x + width, street], fill=colour)
        if rng.random() < 0.3:  # a gable or spire
            draw.polygon([x, top, x + width, top, x + width / 2, top - 0.5 * width], fill=colour)
        if rng.random() < 0.6:  # windows
            light = c[4] if colour != c[4] else c[0]
            step = width / 4
            for wy in np.arange(top + step, street - step, 1.6 * step).tolist():
                for wx in (x + step * 0.6, x + step * 2.4):
                    draw.rectangle([wx, wy, wx + step, wy + 0.8 * step], fill=light)
        x += width * rng.uniform(0.85, 1.05)


def _abstract(
    draw: ImageDraw.ImageDraw, w: int, h: int, c: list[Colour], rng: np.random.Generator
) -> None:
    for _ in range(int(rng.integers(4, 11))):
        colour = c[int(rng.integers(5))]
        x0, y0 = rng.uniform(-0.1, 0.9) * w, rng.uniform(-0.1, 0.9) * h
        x1, y1 = x0 + rng.uniform(0.1, 0.6) * w, y0 + rng.uniform(0.1, 0.6) * h
        kind = rng.integers(4)
        if kind == 0:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        elif kind == 1:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        elif kind == 2:
            draw.polygon([x0, y1, x1, y1, (x0 + x1) / 2, y0], fill=colour)
        else:  # a band across the canvas
            draw.line([0, y0, w, y1], fill=colour, width=max(2, int(rng.uniform(0.02, 0.1) * h)))


GENRES: dict[str, Compose] = {
    "landscape": _landscape,
    "marina": _marina,  # Painter by Numbers' word for seascapes
    "portrait": _portrait,
    "still life": _still_life,
    "cityscape": _cityscape,
    "abstract": _abstract,
}
