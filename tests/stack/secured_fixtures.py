"""The secured stack (IMGSIM_STACK_SECURITY=on) for the `secured` tests: its own state directory
(`.stack/secured`) and ports, so it runs beside the plain stack the rest of the suite uses.
Reused when it runs; started once per session when not, and then stopped at the end (unless
IMGSIM_TEST_KEEP_STACK is set). The plain stack is never touched."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from imgsim_stack import certificates, credentials
from imgsim_stack.settings import REPO_ROOT, StackSettings

from tests.stack.fixtures import stack_beside, stack_ready

# One definition for the Makefile's `up-secured` and these tests.
SECURED_STACK_ENV = REPO_ROOT / "infra" / "native" / "secured-stack.env"


def secured_settings() -> StackSettings:
    """The secured test stack's settings (nothing is started)."""
    values: dict[str, Any] = {
        key.removeprefix("IMGSIM_STACK_").lower(): value
        for key, value in credentials.read_client_env(SECURED_STACK_ENV).items()
    }
    values["state_dir"] = REPO_ROOT / values["state_dir"]
    return StackSettings(**values)


def secured_stack_ready(settings: StackSettings) -> bool:
    return stack_ready(settings, lambda: credentials.launcher_connect_auth(settings))


@dataclass(frozen=True)
class SecuredStack:
    """A running secured stack and what a test needs to reach it as each service would."""

    settings: StackSettings
    client_env: dict[str, str]
    """`client.env` parsed: the variables that point each service at this stack
    (VECTORIZER_*, INDEXER_CHECK_*, SEARCH_API_*, IMGSIM_STACK_*), secrets as `..._FILE`."""
    secrets_dir: Path
    ca_file: Path
    elasticsearch_url: str
    connect_url: str
    bootstrap_servers: str

    @classmethod
    def of(cls, settings: StackSettings) -> "SecuredStack":
        state = settings.state_dir
        return cls(
            settings=settings,
            client_env=credentials.read_client_env(credentials.client_env_path(state)),
            secrets_dir=credentials.secrets_dir(state),
            ca_file=certificates.stack_certificates(state).ca_certificate,
            elasticsearch_url=settings.elasticsearch,
            connect_url=settings.connect,
            bootstrap_servers=settings.bootstrap_servers,
        )

    def secret(self, name: str) -> str:
        return credentials.read_secret(self.secrets_dir / name)


@pytest.fixture(scope="session")
def secured_stack() -> Iterator[SecuredStack]:
    settings = secured_settings()
    with stack_beside(settings, secured_stack_ready(settings)):
        yield SecuredStack.of(settings)
