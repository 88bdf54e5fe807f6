"""How a generated painting is painted: one technique per style, and each artist's hand.

A technique paints a scene (`sample_scenes`) over with marks of its own kind: dots, hatched
strokes, flat hard-edged areas, washes, thick relief strokes, splatter, tiles, long curves. It
takes its colours from the scene (and so from the painting's palette) and the painting ends with
the scene's mean colour: what tells styles apart is texture, not colour. Sizes are in units of
the painting's size, so a style keeps its look at every size once squashed to the network's input.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

from imgsim_cli.sample_scenes import Palette

Pixels = npt.NDArray[np.float32]  # (height, width, 3) RGB, 0..255


@dataclass(frozen=True)
class Hand:
    """An artist's habits within their style: what sets them apart from its other artists."""

    scale: float  # size of the marks, ~0.6..1.6
    density: float  # how closely they are laid, ~0.6..1.4
    jitter: float  # how far a mark's colour strays from the scene's, 0..1
    angle: float  # preferred direction of strokes, radians
    spread: float  # how much the direction varies, radians
    variant: int  # a habit of the technique's own (dot shape, tile bond, ...), 0..2


Technique = Callable[[Pixels, Palette, Hand, np.random.Generator], Pixels]


def paint(
    style: str, scene: Image.Image, palette: Palette, hand: Hand, rng: np.random.Generator
) -> Image.Image:
    pixels = np.asarray(scene, np.float32)
    painted = TECHNIQUES[style](pixels, palette, hand, rng)
    painted += pixels.mean(axis=(0, 1)) - painted.mean(axis=(0, 1))
    return Image.fromarray(np.clip(painted, 0, 255).astype(np.uint8))


def _pixels(values: npt.ArrayLike) -> Pixels:
    return np.asarray(values, np.float32)


def _unit(pixels: Pixels) -> float:
    return math.sqrt(pixels.shape[0] * pixels.shape[1]) / 300


def _blur(pixels: Pixels, radius: float) -> Pixels:
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(radius)), np.float32)


def _noise(shape: tuple[int, int], cell: float, rng: np.random.Generator) -> Pixels:
    """Smooth noise, about N(0, 1), that varies over `cell` pixels."""
    height, width = shape
    coarse = rng.normal(128, 40, (int(height / cell) + 2, int(width / cell) + 2))
    image = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8))
    # Blurred after the resize: bicubic alone leaves the coarse grid's squares visible.
    smooth = image.resize((width, height), Image.Resampling.BICUBIC).filter(
        ImageFilter.GaussianBlur(cell / 3)
    )
    return _pixels((np.asarray(smooth, np.float32) - 128) / 40)


def _at(pixels: Pixels, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> Pixels:
    height, width = pixels.shape[:2]
    return _pixels(
        pixels[np.clip(y, 0, height - 1).astype(int), np.clip(x, 0, width - 1).astype(int)]
    )


def _stray(colours: Pixels, palette: Palette, hand: Hand, rng: np.random.Generator) -> Pixels:
    """Mark colours: the scene's, pulled toward a random colour of the palette by the hand."""
    pull = palette[rng.integers(len(palette), size=len(colours))] - colours
    amount = hand.jitter * rng.uniform(0, 0.6, (len(colours), 1))
    return _pixels(colours + amount * pull + rng.normal(0, 6 + 10 * hand.jitter, colours.shape))


def _marks(count: float, limit: int) -> int:
    return int(min(max(count, 1), limit))


def _rgb(colour: npt.NDArray[np.float32]) -> tuple[int, int, int]:
    r, g, b = np.clip(colour, 0, 255).astype(int)
    return int(r), int(g), int(b)


def _grid(shape: tuple[int, int]) -> tuple[Pixels, Pixels]:
    height, width = shape
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return x, y


def _pointillism(scene: Pixels, palette: Palette, hand: Hand, rng: np.random.Generator) -> Pixels:
    height, width = scene.shape[:2]
    radius = 1.8 * _unit(scene) * hand.scale
    canvas = Image.fromarray(_blur(scene, 4 * radius).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    count = _marks(1.3 * hand.density * width * height / (math.pi * radius**2), 16000)
    x, y = rng.uniform(0, width, count), rng.uniform(0, height, count)
    colours = _stray(_at(scene, x, y), palette, hand, rng)
    radii = radius * rng.uniform(0.7, 1.3, count)
    shape = draw.rectangle if hand.variant == 1 else draw.ellipse
    stretch = 1.8 if hand.variant == 2 else 1.0  # short horizontal dabs
    for cx, cy, r, colour in zip(x, y, radii, colours, strict=True):
        shape([cx - stretch * r, cy - r, cx + stretch * r, cy + r], fill=_rgb(colour))
    return np.asarray(canvas, np.float32)


def _hatching(scene: Pixels, palette: Palette, hand: Hand, rng: np.random.Generator) -> Pixels:
    unit = _unit(scene)
    paper = palette[int(np.argmax(palette.sum(axis=1)))]
    ground, ink = 0.35 * scene + 0.65 * paper, 0.45 * scene
    light = _blur(scene, 2 * unit).mean(axis=2) / 255
    x, y = _grid(scene.shape[:2])
    spacing, length = 4.5 * unit * hand.scale, 22 * unit * hand.scale
    cross = (math.pi / 2, math.pi / 3, math.pi / 4)[hand.variant]
    gaps = rng.random(4096) < 0.25 / hand.density
    covered = np.zeros_like(light)
    for layer, threshold in enumerate((0.8, 0.55, 0.35)):
        angle = hand.angle + layer * cross + rng.normal(0, hand.spread / 3)
        across = x * math.cos(angle) + y * math.sin(angle)
        along = y * math.cos(angle) - x * math.sin(angle)
        across += 0.8 * unit * np.sin(along / (9 * unit) + rng.uniform(0, 6.3))  # a wavering hand
        line = np.floor(across / spacing)
        distance = np.abs(across - (line + 0.5) * spacing)
        stroke = np.clip(0.9 * unit * (0.8 + 0.2 * hand.density) + 0.5 - distance, 0, 1)
        segment = np.floor(along / length + (line * 0.618) % 1).astype(np.int64)
        stroke[gaps[(line.astype(np.int64) * 7919 + segment * 104729) % 4096]] = 0
        covered = np.maximum(covered, stroke * np.clip((threshold - light) * 6 + 0.5, 0, 1))
    covered = covered[..., None]
    return _pixels(ground * (1 - covered) + ink * covered)


def _hard_edge(scene: Pixels, palette: Palette, hand: Hand, rng: np.random.Generator) -> Pixels:
    height, width = scene.shape[:2]
    nearest = ((scene[:, :, None, :] - palette[None, None]) ** 2).sum(axis=3).argmin(axis=2)
    canvas = Image.fromarray(palette[nearest].astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(1, 3 + round(3 * hand.density)))):
        colour = _rgb(palette[int(rng.integers(len(palette)))])
        x0, y0 = rng.uniform(-0.2, 0.9) * width, rng.uniform(-0.2, 0.9) * height
        x1, y1 = x0 + rng.uniform(0.1, 0.4) * width, y0 + rng.uniform(0.1, 0.4) * height
        if hand.variant == 0:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        elif hand.variant == 1:
            draw.chord([x0, y0, x1, y1], float(rng.uniform(0, 360)), 180, fill=colour)
        else:
            draw.polygon([x0, y1, x1, y1, x1, y0], fill=colour)
    if hand.jitter > 0.5:  # some outline their fields
        edges = canvas.filter(ImageFilter.FIND_EDGES).convert("L").point(lambda v: 255 * (v > 8))
        dark = Image.new("RGB", canvas.size, _rgb(palette[int(np.argmin(palette.sum(axis=1)))]))
        width_px = max(3, int(1.5 * _unit(scene) * hand.scale) | 1)
        canvas.paste(dark, mask=edges.filter(ImageFilter.MaxFilter(width_px)))
    return np.asarray(canvas, np.float32)


def _wash(scene: Pixels, palette: Palette, hand: Hand, rng: np.random.Generator) -> Pixels:
    unit = _unit(scene)
    shape = scene.shape[:2]
    soft = _blur(scene, 8 * unit * hand.scale)
    blooms = (0.08 + 0.1 * hand.jitter + 0.08 * (hand.variant == 2)) * _noise(
        shape, 30 * unit * hand.scale, rng
    )
    soft *= 1 + blooms[..., None]
    edges = np.abs(_blur(scene, 2 * unit) - _blur(scene, 10 * unit)).mean(axis=2, keepdims=True)
    soft -= 0.5 * edges  # pigment gathers at the rims of a wash
    paper = palette[int(np.argmax(palette.sum(axis=1)))]
    grain = rng.normal(0, 2 + 3 * (hand.variant == 1), shape).astype(np.float32)
    if hand.variant == 1:  # granulating pigment
        grain = _blur(np.repeat(grain[..., None] + 128, 3, axis=2), 0.8)[..., 0] - 128
    return _pixels(0.8 * soft + 0.2 * paper + grain[..., None])


def _impasto(scene: Pixels, palette: Palette, hand: Hand, rng: np.random.Generator) -> Pixels:
    height, width = scene.shape[:2]
    unit = _unit(scene)
    length, thick = 11 * unit * hand.scale, max(2, int(5 * unit * hand.scale))
    canvas = Image.fromarray(_blur(scene, 2 * unit).astype(np.uint8))
    relief = Image.new("L", canvas.size, 128)
    draw, carve = ImageDraw.Draw(canvas), ImageDraw.Draw(relief)
    count = _marks(1.6 * hand.density * width * height / (length * thick), 6000)
    x, y = rng.uniform(0, width, count), rng.uniform(0, height, count)
    angles = hand.angle + rng.normal(0, hand.spread, count)
    if hand.variant == 2:  # strokes follow the form: across the scene's edges
        gy, gx = np.gradient(_blur(scene, 4 * unit).mean(axis=2))
        across = np.arctan2(gy, gx)[y.astype(int), x.astype(int)]
        angles = across + math.pi / 2 + rng.normal(0, hand.spread / 2, count)
    dx, dy = np.cos(angles) * length / 2, np.sin(angles) * length / 2
    colours = _stray(_at(scene, x, y), palette, hand, rng)
    heights = rng.integers(60, 255, count)
    for cx, cy, ex, ey, colour, h in zip(x, y, dx, dy, colours, heights, strict=True):
        ends = [(cx - ex, cy - ey), (cx + ex, cy + ey)]
        draw.line(ends, fill=_rgb(colour), width=thick)
        carve.line(ends, fill=int(h), width=thick)
    ridges = np.asarray(relief.filter(ImageFilter.GaussianBlur(0.8 * unit)), np.float32)
    gy, gx = np.gradient(ridges)
    shade = np.clip((gx + gy) * 0.02 * (1 + hand.jitter), -0.35, 0.35)[..., None]
    return _pixels(np.asarray(canvas, np.float32) * (1 + shade))


def _drip(scene: Pixels, palette: Palette, hand: Hand, rng: np.random.Generator) -> Pixels:
    height, width = scene.shape[:2]
    unit = _unit(scene)
    canvas = Image.fromarray(_blur(scene, 3 * unit).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(3, 8))):
        centre = rng.uniform(0, 1, 2) * (width, height)
        colour = _rgb(palette[int(rng.integers(len(palette)))])
        count = int(rng.integers(40, 120) * hand.density)
        spots = centre + rng.normal(0, 0.18, (count, 2)) * (width, height)
        radii = np.clip(unit * hand.scale * (rng.pareto(1.8, count) + 0.4), 0.8, 14 * unit)
        for (cx, cy), r in zip(spots, radii, strict=True):
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
            if hand.variant == 0 and r > 2.5 * unit and rng.random() < 0.5:  # runs down
                run = rng.uniform(0.05, 0.35) * height
                draw.polygon([cx - 0.5 * r, cy, cx + 0.5 * r, cy, cx, cy + run], fill=colour)
        if hand.variant == 1:  # flung skeins of paint
            walk = np.cumsum(rng.normal(0, 12 * unit, (40, 2)), axis=0) + centre
            points = [(float(px), float(py)) for px, py in walk]
            draw.line(points, fill=colour, width=max(1, int(1.5 * unit * hand.scale)))
    return np.asarray(canvas, np.float32)


def _mosaic(scene: Pixels, palette: Palette, hand: Hand, rng: np.random.Generator) -> Pixels:
    unit = _unit(scene)
    size = 9 * unit * hand.scale
    grout = max(1.0, size * (0.08 + 0.06 * hand.density))
    x, y = _grid(scene.shape[:2])
    row = np.floor(y / size).astype(np.int64)
    if hand.variant == 1:  # running bond: every other row shifted half a tile
        x = x + (row % 2) * size / 2
    column = np.floor(x / size).astype(np.int64)
    rows, columns = int(row.max()) + 1, int(column.max()) + 1
    ragged = 0.25 * size if hand.variant == 2 else 0.0  # irregular, hand-cut tiles
    insets = grout / 2 + rng.uniform(0, ragged + 0.5, (4, rows, columns))
    local_x, local_y = x - column * size, y - row * size
    tile = (
        (local_x > insets[0][row, column])
        & (local_x < size - insets[1][row, column])
        & (local_y > insets[2][row, column])
        & (local_y < size - insets[3][row, column])
    )
    centres_y, centres_x = np.mgrid[0:rows, 0:columns].astype(np.float64)
    centres_x = (centres_x + 0.5) * size - (centres_y % 2) * size / 2 * (hand.variant == 1)
    colours = _at(scene, centres_x.ravel(), (centres_y.ravel() + 0.5) * size)
    colours = _stray(colours, palette, hand, rng).reshape(rows, columns, 3)
    joints = 0.45 * _blur(scene, size)
    return np.where(tile[..., None], colours[row, column], joints)


def _flowing(scene: Pixels, palette: Palette, hand: Hand, rng: np.random.Generator) -> Pixels:
    height, width = scene.shape[:2]
    unit = _unit(scene)
    step, thick, steps = 2.5 * unit * hand.scale, max(2, int(3 * unit * hand.scale)), 12
    canvas = Image.fromarray(_blur(scene, 4 * unit).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    count = _marks(1.2 * hand.density * width * height / (step * steps * thick), 2500)
    waves = rng.uniform(0.5, 2.5, 4) / (60 * unit * hand.scale)
    phases = rng.uniform(0, 2 * math.pi, 4)
    swirl = (1.6, 0.5, 0.8)[hand.variant]
    centre = rng.uniform(0.2, 0.8, 2) * (width, height)
    points = np.empty((steps, count, 2))
    points[0] = rng.uniform(0, 1, (count, 2)) * (width, height)
    for i in range(1, steps):
        px, py = points[i - 1, :, 0], points[i - 1, :, 1]
        angle = hand.angle + swirl * (
            np.sin(px * waves[0] + phases[0]) + np.cos(py * waves[1] + phases[1])
        )
        if hand.variant == 2:  # around a centre, like wind around a star
            angle = angle * 0.3 + np.arctan2(py - centre[1], px - centre[0]) + math.pi / 2
        points[i] = points[i - 1] + step * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    middle = points[steps // 2]
    colours = _stray(_at(scene, middle[:, 0], middle[:, 1]), palette, hand, rng)
    for curve, colour in zip(points.transpose(1, 0, 2), colours, strict=True):
        draw.line([(float(px), float(py)) for px, py in curve], fill=_rgb(colour), width=thick)
    return np.asarray(canvas, np.float32)


TECHNIQUES: dict[str, Technique] = {
    "Pointillism": _pointillism,
    "Cross-hatching": _hatching,
    "Hard-edge": _hard_edge,
    "Wash": _wash,
    "Impasto": _impasto,
    "Drip": _drip,
    "Mosaic": _mosaic,
    "Flowing line": _flowing,
}
STYLES = tuple(TECHNIQUES)
