"""What a tower trained from the pixels sees: random crops of the decoded paintings, each epoch new.

A crop keeps the painting's own scale (the image as the vectorizer decodes it, cut, never
resized), so brushwork looks in training as it does at inference, where the tower sees the
whole image. Each batch has one crop size, drawn from a few: small crops are cheap and show
texture, large ones show how a painting is laid out. Then a mirror image half of the time and a
photograph's colour: brightness, contrast and saturation each within a few percent.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]
Images = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Augmentation:
    crops: tuple[int, ...]  # sides of the square crops, one drawn per batch
    colour: float = 0.1  # brightness, contrast and saturation within 1 +- colour


def augment(pixels: Pixels, crop: int, rng: np.random.Generator, colour: float) -> Images:
    """(n, size, size, 3) uint8 -> (n, crop, crop, 3) float32 in 0..255."""
    count, size = pixels.shape[0], pixels.shape[1]
    crop = min(crop, size)
    tops = rng.integers(0, size - crop + 1, count)
    lefts = rng.integers(0, size - crop + 1, count)
    out = np.empty((count, crop, crop, 3), np.float32)
    for row in range(count):
        cut = pixels[row, tops[row] : tops[row] + crop, lefts[row] : lefts[row] + crop]
        out[row] = cut[:, ::-1] if rng.random() < 0.5 else cut
    if colour > 0:
        factors = rng.uniform(1 - colour, 1 + colour, (3, count, 1, 1, 1)).astype(np.float32)
        out *= factors[0]
        mean = out.mean(axis=(1, 2, 3), keepdims=True)
        out -= mean
        out *= factors[1]
        out += mean
        grey = out.mean(axis=3, keepdims=True)
        out -= grey
        out *= factors[2]
        out += grey
        np.clip(out, 0, 255, out=out)
    return out


class Batches(keras.utils.PyDataset):  # type: ignore[misc]  # keras has no type information
    """Shuffled batches of augmented crops with each head's targets and sample weights; every
    painting (`rows` of `pixels`) `repeat` times an epoch, each time cropped anew."""

    def __init__(
        self,
        pixels: Pixels,
        rows: npt.NDArray[np.int64],
        targets: Mapping[str, npt.NDArray[Any]],
        weights: Mapping[str, npt.NDArray[Any]],
        batch_size: int,
        augmentation: Augmentation,
        repeat: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.pixels = pixels
        self.rows = rows
        self.targets = targets
        self.weights = weights
        self.batch_size = batch_size
        self.augmentation = augmentation
        self.repeat = repeat
        self.seed = seed
        self.epoch = 0
        self._order = self._shuffled()

    def _shuffled(self) -> npt.NDArray[np.int64]:
        rng = np.random.default_rng((self.seed, self.epoch))
        count = len(self.rows)
        return np.concatenate([rng.permutation(count) for _ in range(self.repeat)])

    def __len__(self) -> int:
        return -(-len(self._order) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[Images, dict[str, Any], dict[str, Any]]:
        picked = np.sort(self._order[index * self.batch_size : (index + 1) * self.batch_size])
        rng = np.random.default_rng((self.seed, self.epoch, index))
        crop = int(rng.choice(self.augmentation.crops))
        images = augment(self.pixels[self.rows[picked]], crop, rng, self.augmentation.colour)
        return (
            images,
            {name: values[picked] for name, values in self.targets.items()},
            {name: values[picked] for name, values in self.weights.items()},
        )

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._shuffled()
