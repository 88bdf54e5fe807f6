"""The artists of a generated sample set: a name, a style, a hand and favourite genres each.

Within a style the artists' habits are spread over their ranges rather than drawn at random, so
that no two of them paint alike: artist identity can be learnt beyond style.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from imgsim_cli.sample_scenes import GENRES
from imgsim_cli.sample_techniques import Hand

FIRST_NAMES = (
    "Ada", "Bruno", "Chiara", "Dmitri", "Elin", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kasia", "Lior", "Maren", "Nuno", "Odile", "Pavel", "Quinn", "Rosa", "Soren", "Talia",
    "Umar", "Vera", "Wim", "Xenia", "Yusuf", "Zofia", "Amara", "Bela", "Cyril", "Dagny",
    "Emil", "Flora", "Gaspard", "Hedda", "Ivo", "Juno", "Kenji", "Luz", "Milo", "Nadia",
)  # fmt: skip
SURNAMES = (
    "Okafor", "Lindqvist", "Moreau", "Takeda", "Ferreira", "Novak", "Brandt", "Esposito",
    "Haddad", "Kowalski", "Lund", "Mbeki", "Nakamura", "Ortega", "Petrov", "Quist", "Rinaldi",
    "Sato", "Tamm", "Ulloa", "Varga", "Weiss", "Yilmaz", "Zeller", "Adeyemi", "Bergstrom",
    "Castillo", "Dubois", "Eklund", "Fontaine", "Galli", "Horvat", "Iversen", "Jansen",
    "Keane", "Larsen", "Marchetti", "Nieminen", "Olsen", "Pires",
)  # fmt: skip
# How much a single painting strays from its artist's habits.
PAINTING_VARIATION = 0.08


@dataclass(frozen=True)
class Artist:
    name: str
    style: str
    hand: Hand
    genres: tuple[str, ...]  # the genres they paint most
    active: tuple[int, int]  # first and last year of their career
    seen: bool  # whether any of their paintings is in the training split


def roster(
    styles: tuple[str, ...], per_style: int, unseen_per_style: int, rng: np.random.Generator
) -> list[Artist]:
    """`per_style` artists for every style; the last `unseen_per_style` of each are unseen."""
    if len(styles) * per_style > len(FIRST_NAMES) * len(SURNAMES):
        raise ValueError(f"too many artists: at most {len(FIRST_NAMES) * len(SURNAMES)}")
    names = rng.permutation(len(FIRST_NAMES) * len(SURNAMES))
    artists = []
    for s, style in enumerate(styles):
        hands = _hands(per_style, rng)
        for a, hand in enumerate(hands):
            first, last = divmod(int(names[s * per_style + a]), len(SURNAMES))
            start = int(rng.integers(1850, 1990))
            favourites = rng.choice(list(GENRES), int(rng.integers(2, 5)), replace=False)
            artists.append(
                Artist(
                    name=f"{FIRST_NAMES[first]} {SURNAMES[last]}",
                    style=style,
                    hand=hand,
                    genres=tuple(str(g) for g in favourites),
                    active=(start, start + int(rng.integers(8, 40))),
                    seen=a < per_style - unseen_per_style,
                )
            )
    return artists


def _hands(count: int, rng: np.random.Generator) -> list[Hand]:
    def spread(low: float, high: float) -> list[float]:
        """One value from each of `count` equal bins of low..high, in random order."""
        edges = (rng.permutation(count) + rng.uniform(0.15, 0.85, count)) / count
        return [low + (high - low) * float(e) for e in edges]

    variants = rng.permutation(count) % 3
    return [
        Hand(scale=s, density=d, jitter=j, angle=a, spread=p, variant=int(v))
        for s, d, j, a, p, v in zip(
            spread(0.65, 1.5),
            spread(0.7, 1.35),
            spread(0.05, 0.95),
            spread(0, math.pi),
            spread(0.1, 0.7),
            variants,
            strict=True,
        )
    ]


def painting_hand(artist: Artist, rng: np.random.Generator) -> Hand:
    """The artist's hand on one day: their habits, a little off."""
    hand = artist.hand

    def off(value: float) -> float:
        return value * float(rng.normal(1, PAINTING_VARIATION))

    return replace(
        hand,
        scale=off(hand.scale),
        density=off(hand.density),
        jitter=float(np.clip(off(hand.jitter), 0, 1)),
        angle=hand.angle + float(rng.normal(0, 0.1)),
    )


def painting_genre(artist: Artist, rng: np.random.Generator) -> str:
    # Mostly their favourites, now and then anything.
    pool = artist.genres if rng.random() < 0.85 else tuple(GENRES)
    return str(pool[int(rng.integers(len(pool)))])
