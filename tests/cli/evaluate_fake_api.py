"""A fake search API for `imgsim evaluate`, whose answers are known: neighbours perfect by style
for `style_trained` and random for `global`, vectors that tell seen artists apart but not unseen
ones, an upload search that finds the original by its colour and, like the real API, bounds the
uploads at once (429 with Retry-After, closing the connection); and the labelled set it serves."""

import asyncio
import csv
import io
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

STYLES = ("Cubism", "Baroque", "Realism")
# Per style: two artists with paintings in training (seen), two with none (unseen).
ARTISTS_PER_STYLE, PAINTINGS_PER_ARTIST, SEEN_ARTISTS, TRAIN_PER_SEEN = 4, 5, 2, 3
OUTSIDERS = ("other/outsider-1.jpg", "other/outsider-2.jpg")  # indexed, not in the CSV


@dataclass
class Painting:
    id: str
    style: str
    genre: str
    artist: str
    in_train: bool
    colour: tuple[int, int, int]


def collection() -> list[Painting]:
    paintings: list[Painting] = []
    for style in STYLES:
        for a in range(ARTISTS_PER_STYLE):
            for n in range(PAINTINGS_PER_ARTIST):
                i = len(paintings)
                colour = (32 + 64 * (i % 4), 32 + 64 * (i // 4 % 4), 32 + 64 * (i // 16 % 4))
                paintings.append(
                    Painting(
                        id=f"{style.lower()}/artist-{a}/painting-{n}.png",
                        style=style,
                        genre=("portrait", "landscape")[n % 2],
                        artist=f"{style} artist {a}",
                        in_train=a < SEEN_ARTISTS and n < TRAIN_PER_SEEN,
                        colour=colour,
                    )
                )
    return paintings


def write_set(root: Path, paintings: list[Painting], in_train: bool = True) -> Path:
    for p in paintings:
        (root / p.id).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (48, 36), p.colour).save(root / p.id)
    metadata = root / "all_data_info.csv"
    columns = ["new_filename", "artist", "style", "genre", "title", *(["in_train"] * in_train)]
    with metadata.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for p in paintings:
            # File names repeat across folders: the rows name each by its path.
            row = [p.id, p.artist, p.style, p.genre, "Untitled"]
            writer.writerow(row + ([str(p.in_train)] if in_train else []))
    return metadata


@dataclass
class FakeApi:
    """What the fake search API answers, per representation: `style_trained` ranks by style,
    `global` at random; `upload` is how upload search behaves."""

    paintings: list[Painting]
    indexed: set[str] = field(default_factory=set)
    upload: str = "find"  # find, or a status such as 409
    loading: int = 0  # uploads answered 503 (the model still loading) before the first is served
    l2_for_global: bool = True
    asked: list[str] = field(default_factory=list)
    max_uploads: int | None = None  # uploads searched at once; past it a 429, as the API does
    refuse_first: int = 0  # uploads answered 429 before any is searched
    retry_after: str = "1"  # the 429s' Retry-After
    # A 429 closes the connection, as the API's does, before the body is read: the client may
    # see only the dropped connection. Else the body is read first, so the 429 is always read.
    close_on_429: bool = True
    upload_s: float = 0.0  # how long an upload is searched, so that uploads overlap
    # Paintings whose uploads always fail, with the status they get (429 or 500).
    failing: dict[str, int] = field(default_factory=dict)
    uploads_in_flight: int = 0
    most_uploads_at_once: int = 0
    # Each upload received: when, and the status it was answered.
    received: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_id = {p.id: p for p in self.paintings}
        self.indexed = self.indexed or {*self.by_id, *OUTSIDERS}
        seen = {p.artist for p in self.paintings if p.in_train}
        rng = np.random.default_rng(1)
        artists = sorted({p.artist for p in self.paintings})
        self.vectors: dict[str, dict[str, list[float]]] = {}
        for p in self.paintings:
            if p.artist in seen:  # its style, and its artist half as strongly
                trained = np.zeros(len(STYLES) + len(artists))
                trained[STYLES.index(p.style)] = 1.0
                trained[len(STYLES) + artists.index(p.artist)] = 0.5
            else:  # an unseen artist's paintings land anywhere
                trained = rng.standard_normal(len(STYLES) + len(artists))
            self.vectors[p.id] = {
                "style_trained": trained.tolist(),
                "global": rng.standard_normal(8).tolist(),
            }

    def ranking(self, query: str, representation: str, count: int) -> list[str]:
        others = sorted(i for i in self.indexed if i != query and i in self.by_id)
        rng = random.Random(f"{query}/{representation}")
        rng.shuffle(others)
        if representation == "style_trained":
            style = self.by_id[query].style
            others.sort(key=lambda i: self.by_id[i].style != style)
        # Paintings outside the set come first: the evaluation must leave them out.
        return [*OUTSIDERS, *others][:count]

    def app(self) -> Starlette:
        async def representations(request: Request) -> Response:
            both = ["cosine", "l2"]
            return JSONResponse(
                {
                    "representations": [
                        {"name": "style_trained", "dims": 15, "source": "trained", "metrics": both},
                        {
                            "name": "global",
                            "dims": 8,
                            "source": "backbone",
                            "metrics": both if self.l2_for_global else ["cosine"],
                        },
                    ],
                    "metrics": both,
                }
            )

        async def listing(request: Request) -> Response:
            ids = sorted(self.indexed)
            start = int(request.query_params.get("after", 0))
            size = int(request.query_params["size"])
            page = ids[start : start + size]
            following = str(start + size) if start + size < len(ids) else None
            return JSONResponse({"paintings": [{"id": i} for i in page], "next": following})

        async def painting(request: Request) -> Response:
            painting_id = request.path_params["painting_id"]
            if painting_id not in self.indexed or painting_id not in self.by_id:
                return JSONResponse({"error": f"no painting {painting_id!r}"}, 404)
            assert request.query_params["vectors"] == "true"
            return JSONResponse({"id": painting_id, "vectors": self.vectors[painting_id]})

        async def similar(request: Request) -> Response:
            painting_id = request.path_params["painting_id"]
            params = request.query_params
            self.asked.append(f"{params['metric']}:{params['representation']}")
            k = int(params["k"])
            names = params["representation"].split(",")
            results = [
                {
                    "representation": n,
                    "metric": params["metric"],
                    "hits": [{"id": i, "score": 1.0} for i in self.ranking(painting_id, n, k)],
                }
                for n in names
            ]
            return JSONResponse({"id": painting_id, "results": results})

        def too_many() -> Response:
            message = (
                f"too many uploads at once: {self.uploads_in_flight} are being searched, the most "
                "this server takes (SEARCH_API_MAX_CONCURRENT_UPLOADS); try again in 1 s"
            )
            return JSONResponse(
                {"error": message, "reason": "too_many_uploads"},
                429,
                headers={"Retry-After": self.retry_after}
                | ({"Connection": "close"} if self.close_on_429 else {}),
            )

        async def upload(request: Request) -> Response:
            answer = await admitted(request)
            self.received.append((time.monotonic(), answer.status_code))
            return answer

        async def admitted(request: Request) -> Response:
            # Refused before the body is read, as the API's admission does.
            refused = self.max_uploads is not None and self.uploads_in_flight >= self.max_uploads
            if self.refuse_first or refused:
                self.refuse_first = max(0, self.refuse_first - 1)
                if not self.close_on_429:
                    await request.body()  # else the unread body may reset the connection
                return too_many()
            self.uploads_in_flight += 1
            self.most_uploads_at_once = max(self.most_uploads_at_once, self.uploads_in_flight)
            try:
                await asyncio.sleep(self.upload_s)
                return await searched_upload(request)
            finally:
                self.uploads_in_flight -= 1

        async def searched_upload(request: Request) -> Response:
            if self.upload != "find":
                return JSONResponse({"error": f"upload refused ({self.upload})"}, int(self.upload))
            if self.loading:
                self.loading -= 1
                message = "upload search is unavailable: the model is still loading; try again"
                return JSONResponse({"error": message}, 503)
            async with request.form() as form:
                image: Any = form["image"]
                data = await image.read()
            with Image.open(io.BytesIO(data)) as sent:
                colour = np.asarray(sent.convert("RGB"), dtype=float).mean(axis=(0, 1))
            nearest = min(
                self.paintings, key=lambda p: float(np.sum((np.array(p.colour) - colour) ** 2))
            )
            if self.failing.get(nearest.id) == 429:
                return too_many()
            if nearest.id in self.failing:
                failed = {"error": "the vectorizer failed", "reason": "embedding_failed"}
                return JSONResponse(failed, self.failing[nearest.id])
            names = request.query_params["representation"].split(",")
            results = [
                {
                    "representation": n,
                    # `global` is made to miss: the original is never its first answer.
                    "hits": [{"id": nearest.id if n == "style_trained" else OUTSIDERS[0]}],
                }
                for n in names
            ]
            return JSONResponse({"upload": True, "results": results})

        return Starlette(
            routes=[
                Route("/representations", representations),
                Route("/paintings", listing),
                Route("/paintings/{painting_id:path}", painting),
                Route("/similar/upload", upload, methods=["POST"]),
                Route("/similar/{painting_id:path}", similar),
            ]
        )
