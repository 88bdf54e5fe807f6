"""The one error the launcher reports: which component, what happened, which log to read."""

from pathlib import Path


class StackError(Exception):
    def __init__(self, component: str, message: str, log: Path | None = None) -> None:
        self.component = component
        self.log = log
        hint = f" (read {log})" if log else ""
        super().__init__(f"{component}: {message}{hint}")
