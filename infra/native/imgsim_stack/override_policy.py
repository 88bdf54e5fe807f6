"""Connectors registered before the worker's override policy became `None`.

Such a connector may still carry `consumer.override.*` (the sinks once set
`consumer.override.auto.offset.reset`), and a worker with policy `None` refuses to start its
tasks: they stay FAILED. `up` rewrites their configurations without the overrides, which
changes nothing else: a sink's consumer starts at the earliest offset without being told.
"""

import time
from collections.abc import Callable
from typing import Any

import httpx

from imgsim_stack import credentials
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings

Report = Callable[[str], None]
OVERRIDES = ("consumer.override.", "producer.override.", "admin.override.")


def without_overrides(config: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in config.items() if not key.startswith(OVERRIDES)}


def drop_client_overrides(
    settings: StackSettings,
    report: Report,
    timeout_s: float = 30,
    transport: httpx.BaseTransport | None = None,
) -> None:
    auth = credentials.launcher_connect_auth(settings)
    with httpx.Client(
        base_url=settings.connect, auth=auth, timeout=30, transport=transport
    ) as http:
        for name in _connectors(http):
            config: dict[str, str] = _get(http, f"/connectors/{name}/config")
            kept = without_overrides(config)
            if kept == config:
                continue
            dropped = sorted(set(config) - set(kept))
            _put(http, f"/connectors/{name}/config", kept)
            _restart_failed(http, name, timeout_s, poll_s=1.0 if transport is None else 0.0)
            report(f"connector {name}: client overrides removed ({', '.join(dropped)})")


def _connectors(http: httpx.Client) -> list[str]:
    return [str(name) for name in _get(http, "/connectors")]


def _restart_failed(http: httpx.Client, name: str, timeout_s: float, poll_s: float) -> None:
    """The tasks that failed under the old configuration start again with the new one."""
    deadline = time.monotonic() + timeout_s
    while True:
        # The status may still show the old tasks' failure for a moment after the new config.
        time.sleep(poll_s)
        status = _get(http, f"/connectors/{name}/status")
        if status["tasks"] and all(t["state"] != "FAILED" for t in status["tasks"]):
            return
        if time.monotonic() > deadline:
            raise StackError(
                "connect", f"connector {name} has FAILED tasks after {timeout_s:.0f} s"
            )
        http.post(
            f"/connectors/{name}/restart", params={"includeTasks": "true", "onlyFailed": "true"}
        )


def _get(http: httpx.Client, path: str) -> Any:
    answer = http.get(path)
    if answer.status_code != 200:
        raise StackError("connect", f"GET {path} answered {answer.status_code}")
    return answer.json()


def _put(http: httpx.Client, path: str, body: dict[str, str]) -> None:
    answer = http.put(path, json=body)
    if answer.status_code not in (200, 201):
        raise StackError(
            "connect", f"PUT {path} answered {answer.status_code}: {answer.text[:300]}"
        )
