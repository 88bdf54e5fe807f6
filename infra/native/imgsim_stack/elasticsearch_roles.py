"""The product's Elasticsearch roles, each with the least it needs, and who holds them.

One role per client: the search API reads the alias only; the sink writes documents into
`paintings-*` and nothing else (no reads, no index creation: provisioning makes the indices);
the checker reads `paintings*`, asks the cluster's health and refreshes, and may not delete;
administration (templates, indices, the alias swap, the checker's repair deletes when asked)
is a role of its own. The same descriptors serve a file realm's `roles.yml` and API keys.
"""

import json
from dataclasses import dataclass
from typing import Any

from imgsim_common import names

# Every concrete index of the product: the base pipeline's `paintings-v1` and each model
# version's `paintings-model-<version>`.
PAINTINGS_INDICES = f"{names.PAINTINGS_ALIAS}-*"
# The alias and the indices behind it.
PAINTINGS_ALL = f"{names.PAINTINGS_ALIAS}*"


@dataclass(frozen=True)
class IndexGrant:
    names: tuple[str, ...]
    privileges: tuple[str, ...]


@dataclass(frozen=True)
class Role:
    name: str
    cluster: tuple[str, ...]
    indices: tuple[IndexGrant, ...]

    @property
    def elasticsearch_role(self) -> str:
        """The role's name in Elasticsearch (`roles.yml`, an API key's role descriptors)."""
        return f"imgsim_{self.name}"

    @property
    def user(self) -> str:
        """The file-realm user that holds the role on the native secured stack."""
        return f"imgsim-{self.name}"

    def descriptor(self) -> dict[str, Any]:
        return {
            "cluster": list(self.cluster),
            "indices": [
                {"names": list(grant.names), "privileges": list(grant.privileges)}
                for grant in self.indices
            ],
        }


SEARCH = Role(
    "search",
    cluster=(),
    # The alias and the product's indices behind it, reading only: the API learns the model
    # from the alias' mapping, then searches the concrete index it learned, so that an alias
    # swap never mixes two models in one answer. No write, delete or manage anywhere.
    indices=(
        IndexGrant((names.PAINTINGS_ALIAS, PAINTINGS_INDICES), ("read", "view_index_metadata")),
    ),
)
SINK = Role(
    "sink",
    cluster=(),
    # `index` and `delete` (tombstones) through `_bulk`; no `create_index`/`auto_configure`,
    # so a record for a missing index fails the task instead of making an unmapped index.
    indices=(IndexGrant((PAINTINGS_INDICES,), ("index", "delete")),),
)
CHECKER = Role(
    "checker",
    # Cluster health, per index.
    cluster=("monitor",),
    # `maintenance`: the refresh before a reconciliation; `read`: counts, point-in-time scans.
    indices=(
        IndexGrant((PAINTINGS_ALL,), ("read", "view_index_metadata", "monitor", "maintenance")),
    ),
)
ADMIN = Role(
    "admin",
    cluster=("monitor", "manage_index_templates"),
    indices=(IndexGrant((PAINTINGS_ALL,), ("all",)),),
)

ROLES = (SEARCH, SINK, CHECKER, ADMIN)


def roles_yml() -> str:
    """`roles.yml` for Elasticsearch's file roles: one JSON object (valid YAML) per role."""
    return "".join(
        f"{role.elasticsearch_role}: {json.dumps(role.descriptor())}\n" for role in ROLES
    )


def users_roles() -> str:
    """The file realm's `users_roles`: each role held by its one user."""
    return "".join(f"{role.elasticsearch_role}:{role.user}\n" for role in ROLES)
