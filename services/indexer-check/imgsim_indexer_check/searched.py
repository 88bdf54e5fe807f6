"""Which pipeline the checker checks when no model version is named: the one searched.

After a model swap the alias points at a model version's index, which only that version's
topic, connector and consumer group fill. Judged against the base pipeline's, every document of
it would be extra and leg 1 stopped (the base group no longer reads). So the checker follows the
alias: at every poll (the service outlives swaps and rollbacks) and once per command.
"""

import logging
from collections.abc import Mapping
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from imgsim_common import names

from imgsim_indexer_check.settings import IndexerCheckSettings

log = logging.getLogger(__name__)


def behind(aliases: Mapping[str, Any], alias: str) -> str | None:
    """The index `GET _alias/<alias>` names: the alias's write index, or its only index."""
    indices = sorted(aliases)
    write = [
        index
        for index in indices
        if aliases[index].get("aliases", {}).get(alias, {}).get("is_write_index")
    ]
    if len(write) == 1:
        return write[0]
    return indices[0] if len(indices) == 1 else None


def aimed(configured: IndexerCheckSettings, index: str | None) -> IndexerCheckSettings:
    """`configured` aimed at the pipeline of the index the alias points at, when that is a model
    version's and nothing named another; else `configured` as it is."""
    if not configured.follow_alias or configured.model_version or index is None:
        return configured
    pipeline = names.pipeline_of_index(index)
    return configured if pipeline is None else configured.following(pipeline)


def follow(configured: IndexerCheckSettings) -> IndexerCheckSettings:
    """`aimed` at what the alias points at now; `configured` when Elasticsearch cannot say
    (the checker then reports it unreachable, and a later poll follows)."""
    if not configured.follow_alias or configured.model_version:
        return configured
    es = Elasticsearch(
        **configured.elasticsearch_options(), request_timeout=configured.request_timeout_s
    )
    try:
        found = es.indices.get_alias(name=configured.alias)
    except NotFoundError:
        return configured
    except (ApiError, TransportError) as e:
        log.warning("cannot tell which index %s points at: %s", configured.alias, e)
        return configured
    finally:
        es.close()
    return aimed(configured, behind(found.body, configured.alias))
