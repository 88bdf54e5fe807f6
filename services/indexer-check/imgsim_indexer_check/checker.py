"""One poll of everything the checker watches, turned into a report; the windows in between.

The service's loop and `imgsim check` both drive a `Checker`: one poll reads both legs' offsets
(in threads: the admin client blocks) while the components are asked over HTTP, then judges.
"""

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from imgsim_indexer_check import http_access, reconciler, searched
from imgsim_indexer_check.components import check_components
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.history import LegHistory
from imgsim_indexer_check.legs import Leg, judge, legs, unreadable
from imgsim_indexer_check.offsets import LegOffsets, OffsetReader, OffsetsError, OffsetSource
from imgsim_indexer_check.reconcile import Reconciliation
from imgsim_indexer_check.report import ComponentReport, LegReport, Report, summarise
from imgsim_indexer_check.settings import IndexerCheckSettings

log = logging.getLogger(__name__)


class Checker:
    def __init__(
        self,
        settings: IndexerCheckSettings,
        reader: OffsetSource | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # What was asked for, and what is checked: the pipeline the alias points at when it
        # is a model version's (searched.aimed), followed at every poll.
        self.configured = settings
        # The last id-level reconciliation, set by whoever runs it; it counts in every report.
        self.reconciliation: Reconciliation | None = None
        self._aim(settings)
        self.reader: OffsetSource = reader or OffsetReader(
            settings.kafka_config(), settings.request_timeout_s
        )
        self.http = http or http_access.client(settings)
        self.clock = clock
        self.latest: Report | None = None

    def _aim(self, settings: IndexerCheckSettings) -> None:
        self.settings = settings
        self.legs: tuple[Leg, ...] = legs(settings)
        # Another pipeline's offsets and ids say nothing of this one's.
        self.histories = {
            leg.number: LegHistory(leg.window, settings.allowed_lag) for leg in self.legs
        }
        self.reconciliation = None

    async def _follow(self) -> None:
        if not self.configured.follow_alias or self.configured.model_version:
            return
        alias = self.configured.alias
        try:
            answer = await self.http.get(f"{self.configured.elasticsearch_url}/_alias/{alias}")
            if answer.status_code == 200:
                index = searched.behind(answer.json(), alias)
            elif answer.status_code == 404:
                index = None
            else:
                return
        except (httpx.HTTPError, ValueError, AttributeError):
            return  # the components' check reports what Elasticsearch is or says
        settings = searched.aimed(self.configured, index)
        if settings != self.settings:
            log.info("alias %s -> %s: checking topic %s", alias, index, settings.paintings_topic)
            self._aim(settings)

    def _read(self, leg: Leg) -> LegOffsets | OffsetsError:
        try:
            return self.reader.read(leg.topic, leg.group)
        except OffsetsError as e:
            return e

    def _kafka(self, errors: list[OffsetsError]) -> ComponentReport:
        servers = self.settings.kafka_bootstrap_servers
        unreachable = [e for e in errors if e.unreachable]
        if unreachable:
            return ComponentReport(
                name="kafka",
                state=State.ERR,
                reason=f"{servers} cannot be reached: {unreachable[0]}",
                url=servers,
                reachable=False,
            )
        return ComponentReport(name="kafka", state=State.OK, reason="reachable", url=servers)

    async def poll(self) -> Report:
        started = time.monotonic()
        await self._follow()
        reads, components = await asyncio.gather(
            asyncio.gather(*(asyncio.to_thread(self._read, leg) for leg in self.legs)),
            check_components(
                self.http,
                self.settings.connect_url,
                self.settings.connector,
                self.settings.elasticsearch_url,
                self.settings.alias,
            ),
        )
        now = self.clock()
        leg_reports: list[LegReport] = []
        errors: list[OffsetsError] = []
        for leg, read in zip(self.legs, reads, strict=True):
            history = self.histories[leg.number]
            if isinstance(read, OffsetsError):
                errors.append(read)
                leg_reports.append(unreadable(leg, str(read), history, now))
                continue
            history.record(read)
            leg_reports.append(judge(leg, history, now, self.settings.allowed_lag))
        reconciliation = self.reconciliation
        report = summarise(
            leg_reports,
            [self._kafka(errors), *components],
            checked_at=now,
            poll_seconds=time.monotonic() - started,
            extra=[reconciler.judge(reconciliation)] if reconciliation else None,
        )
        report.reconciliation = reconciliation
        self.latest = report
        return report

    async def aclose(self) -> None:
        await self.http.aclose()
