"""What TLS and SASL cost ingestion: the worker's images/s on the plain stack and on the secured
one (`IMGSIM_STACK_SECURITY=on`), the same paintings, the same backend, side by side.

Both stacks must be up: `make up` and `make up-secured`. Rounds alternate plain and secured, so
that a noisy neighbour on this shared machine weighs on both alike.
"""

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from imgsim_common.access import KafkaAccess
from imgsim_stack.settings import REPO_ROOT
from vectorizer_bench import paintings, pipeline

SECURED_STATE = REPO_ROOT / ".stack" / "secured"


def client_env(state_dir: Path) -> dict[str, str]:
    """The KEY=VALUE lines `imgsim-stack up` wrote for the services of a secured stack."""
    env: dict[str, str] = {}
    for line in (state_dir / "security" / "client.env").read_text().splitlines():
        name, separator, value = line.strip().partition("=")
        if separator and not name.startswith("#"):
            env[name] = value
    return env


def secured_kafka(env: dict[str, str]) -> tuple[KafkaAccess, dict[str, str]]:
    """The vectorizer's Kafka access on the secured stack, and its variables."""
    prefix = "VECTORIZER_"
    kafka_env = {k: v for k, v in env.items() if k.startswith(prefix + "KAFKA_")}
    fields = {k[len(prefix) :].lower(): v for k, v in kafka_env.items()}
    return KafkaAccess.model_validate(fields), kafka_env


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=640, help="paintings per run")
    parser.add_argument("--rounds", type=int, default=1, help="plain+secured pairs")
    parser.add_argument("--backend", default="onnx", choices=["onnx", "onnx-int8", "keras"])
    parser.add_argument("--plain-bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--secured-state", type=Path, default=SECURED_STATE)
    args = parser.parse_args(argv)
    access, kafka_env = secured_kafka(client_env(args.secured_state))
    work = Path(tempfile.mkdtemp(prefix="imgsim-bench-secured-"))
    try:
        folder = work / "paintings"
        folder.mkdir()
        paintings(folder, args.images, (512, 384))
        cache = work / "onnx"
        rates: dict[str, list[float]] = {"plain": [], "secured": []}
        for _ in range(args.rounds):
            _, plain = pipeline(
                args.plain_bootstrap, folder, args.images, args.backend, cache, None
            )
            rates["plain"].append(plain)
            secured = pipeline(
                access.kafka_config(), folder, args.images, args.backend, cache, None, kafka_env
            )[1]
            rates["secured"].append(secured)
        plain_rate, secured_rate = (statistics.median(rates[k]) for k in ("plain", "secured"))
        secured_name = f"secured ({access.kafka_security_protocol} {access.kafka_sasl_mechanism})"
        print(f"worker ingestion, {args.images} JPEGs 512x384, {args.backend}, images/s (median):")
        for name, rate, runs in (
            ("plain (PLAINTEXT)", plain_rate, rates["plain"]),
            (secured_name, secured_rate, rates["secured"]),
        ):
            print(f"  {name:34s} {rate:7.1f}   runs {', '.join(f'{r:.1f}' for r in runs)}")
        # Rounds alternate, so each pair shares the machine's mood of the moment.
        pairs = [s / p for p, s in zip(rates["plain"], rates["secured"], strict=True)]
        print(
            f"  secured / plain {secured_rate / plain_rate:.3f} "
            f"(per round: {', '.join(f'{r:.2f}' for r in pairs)})"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
