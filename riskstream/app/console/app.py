"""``riskstream ui``: the operator's console (FastAPI), its pages and its ``/api/v1`` API.

The pages are HTML shells; their script reads the same JSON the API serves and charts it
with Plotly (served from the installed ``plotly`` package: the console works without
internet). An event stream (``/api/v1/events``) tells each page when the topics moved, so
it refreshes live. Reading is open; every write needs the bearer token (``auth``), and is
recorded on the `audit` topic by the same functions the CLI uses.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, SecretStr
from typing_extensions import TypedDict

from riskstream import __version__
from riskstream.app.console import views
from riskstream.app.console.auth import authorized
from riskstream.app.console.drift_source import DriftSource
from riskstream.app.console.feed import ConsoleFeed
from riskstream.app.console.shapes import (
    DriftMatrix,
    DriftWindow,
    FeatureHistogram,
    IncidentState,
    LiveMetrics,
    Overview,
    PerformanceView,
    Role,
    VersionRow,
    VersionSummary,
)
from riskstream.app.tools import alert_actions, model_actions
from riskstream.app.tools.alerts import LatestPerformance
from riskstream.core.errors import RiskstreamError
from riskstream.core.settings import Settings
from riskstream.core.topics import (
    AUDIT,
    DRIFT_ALERTS,
    MODEL_VERSIONS,
    PERFORMANCE_WINDOWS,
    RETRAIN_REQUESTS,
    E,
    TopicSpec,
)
from riskstream.models.registry import CHALLENGER, CHAMPION, PREVIOUS, Registry, VersionInfo

HERE = Path(__file__).parent
PAGES = ("overview", "drift", "performance", "models", "alerts", "backtests")
SHOWN_TAGS = (
    "riskstream.candidate",
    "riskstream.training_reason",
    "riskstream.data_lineage",
    "riskstream.awaiting_approval",
    "riskstream.decision",
    "riskstream.last_action",
    "riskstream.live_evidence",
    "riskstream.watch",
    "riskstream.calibration",
)


class Decision(BaseModel):
    reason: str = Field(min_length=1, description="Why, for the registry and the audit topic.")
    actor: str = Field("", description="Who acts (default: user@host of the console).")


class Silence(Decision):
    subject: str = Field(description="The alert subject to hold back (see /api/v1/alerts).")
    minutes: float = Field(60.0, gt=0, le=7 * 24 * 60)


class Rollback(Decision):
    version: str | None = Field(None, description="An earlier version (default: the previous).")


class Acknowledge(Decision):
    subject: str = ""


T = TypeVar("T")


class Written(TypedDict):
    """What a write answers: the line a person reads, and its audit record's id."""

    message: str
    audit_id: str


class Cached(Generic[T]):
    """A slow read (the MLflow registry) shared by requests for ``ttl_s``."""

    def __init__(self, read: Callable[[], T], ttl_s: float = 3.0) -> None:
        self.read, self.ttl_s = read, ttl_s
        self.value: T
        self.at = -1e9

    def get(self) -> T:
        if time.monotonic() - self.at > self.ttl_s:
            self.value, self.at = self.read(), time.monotonic()
        return self.value

    def clear(self) -> None:
        self.at = -1e9


def create_app(settings: Settings, token: SecretStr, feed: ConsoleFeed) -> FastAPI:
    app = FastAPI(
        title="riskstream console",
        version=__version__,
        description="The model's life on the stream: drift, performance, versions, alerts. "
        "Writes need `Authorization: Bearer <RISKSTREAM_UI_TOKEN>`.",
        docs_url=None,  # Swagger UI loads its assets from a CDN; /openapi.json is served
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    drift = DriftSource(settings)
    registry = Registry(settings)
    console = Console(
        settings,
        feed,
        drift,
        versions=Cached(lambda: [_version(v) for v in registry.versions()]),
        redis=drift.store.redis,  # one client for the console's own reads
        closed_windows=Cached(drift.windows),  # a SCAN of Redis: once for every open page
    )
    for router in (_pages(settings), _dashboard(console), _records(console)):
        app.include_router(router)
    app.include_router(_writes(console), dependencies=[Depends(_writer(token))])
    return app


@dataclass
class Console:
    """What the console's routes read from: the settings, the topic feed, the drift
    monitor's windows in Redis, and the registry's versions (cached)."""

    settings: Settings
    feed: ConsoleFeed
    drift: DriftSource
    versions: Cached[list[VersionSummary]]
    redis: Any
    closed_windows: Cached[list[DriftWindow]]

    def events(self, topic: TopicSpec[E]) -> list[E]:
        """The events of a followed topic the feed holds, as the topic's event type."""
        return [e for e in self.feed.snapshot(topic.name) if isinstance(e, topic.event)]

    def act(self, action: Callable[[], model_actions.Done]) -> Written:
        """Run a write; a refusal (RiskstreamError) is a 409 that says why."""
        try:
            done = action()
        except RiskstreamError as exc:
            raise HTTPException(409, str(exc)) from None
        self.versions.clear()
        return {"message": done.message, "audit_id": done.audit.audit_id}


def _writer(token: SecretStr) -> Callable[..., None]:
    """The dependency every write route has: the bearer token, or a 401."""

    def writer(authorization: Annotated[str | None, Header()] = None) -> None:
        if not authorized(authorization, token):
            raise HTTPException(
                401,
                "a write needs `Authorization: Bearer <token>` (RISKSTREAM_UI_TOKEN, or the "
                "one-time token `riskstream ui` printed)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return writer


def _pages(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    templates = Jinja2Templates(directory=HERE / "templates")

    @router.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/overview")

    @router.get("/static-vendor/plotly.min.js")
    def plotly_js() -> FileResponse:
        path = resources.files("plotly") / "package_data" / "plotly.min.js"
        return FileResponse(str(path), media_type="text/javascript")

    for page in PAGES:

        def render(request: Request, page: str = page) -> HTMLResponse:
            return templates.TemplateResponse(
                request,
                "page.html",
                {"page": page, "pages": PAGES, "model": settings.model_name},
            )

        router.get(f"/{page}", response_class=HTMLResponse)(render)
    return router


def _dashboard(console: Console) -> APIRouter:
    """The Overview, Drift and Performance pages' data."""
    router = APIRouter()
    settings = console.settings

    @router.get("/api/v1/overview")
    def overview() -> Overview:
        """Throughput, lag per worker group, champion and challenger, active alerts, last
        retrain."""
        known = console.versions.get()
        aliases = {a: v["version"] for v in known for a in v["aliases"]}
        latest = LatestPerformance()
        for window in console.events(PERFORMANCE_WINDOWS):
            latest.apply(window)
        timeline = views.alert_timeline(console.events(DRIFT_ALERTS))
        with console.feed.lock:
            samples, lag = list(console.feed.samples), dict(console.feed.lag)
        return {
            "model": settings.model_name,
            "undecodable_events": console.feed.skipped,
            "rates": views.rates(samples),
            "lag": lag,
            "roles": {
                role: _role(aliases.get(role), known, latest)
                for role in (CHAMPION, CHALLENGER, PREVIOUS)
            },
            "active_alerts": [a for a in timeline if a["resolved_at"] is None],
            "last_retrain": views.last_retrain(
                console.events(RETRAIN_REQUESTS),
                console.events(MODEL_VERSIONS),
                console.events(DRIFT_ALERTS),
                dict(console.feed.swaps.switched),
            ),
        }

    @router.get("/api/v1/drift")
    def drift_windows() -> DriftMatrix:
        """Feature x window PSI (KS, JS) of the drift monitor's latest closed windows."""
        return views.drift_matrix(console.closed_windows.get())

    @router.get("/api/v1/drift/histogram")
    def drift_histogram(version: str, start: int, feature: str) -> FeatureHistogram:
        """Reference vs window shares of one feature (or ``score``) over the reference bins."""
        found = console.drift.histogram(version, start, feature)
        if found is None:
            raise HTTPException(404, "no such window or feature (it may have expired)")
        return found

    @router.get("/api/v1/performance")
    def performance() -> PerformanceView:
        """Each version's realized windows with 95% intervals, and every takeover."""
        return {
            "series": views.performance_series(console.events(PERFORMANCE_WINDOWS)),
            "takeovers": views.takeovers(console.events(MODEL_VERSIONS)),
        }

    return router


def _records(console: Console) -> APIRouter:
    """Versions, alerts, the audit trail, backtests, and the live update stream."""
    router = APIRouter()
    settings = console.settings

    @router.get("/api/v1/models")
    def models() -> list[VersionRow]:
        """Every version: metrics, aliases, lineage, and who promoted it and why."""
        return views.version_rows(
            console.versions.get(), console.events(MODEL_VERSIONS), console.events(AUDIT)
        )

    @router.get("/api/v1/alerts")
    def alerts() -> list[IncidentState]:
        """Incidents newest first: FIRING with its RESOLVED, acknowledgement and silence."""
        rows = views.alert_timeline(console.events(DRIFT_ALERTS))
        return views.with_alert_state(
            rows,
            alert_actions.acks(settings, console.redis),
            alert_actions.silences(settings, console.redis),
        )

    @router.get("/api/v1/audit")
    def audit() -> list[dict[str, Any]]:
        """Every action people took, newest first."""
        audits = sorted(console.events(AUDIT), key=lambda a: a.event_time, reverse=True)
        return [a.to_avro() for a in audits]

    @router.get("/api/v1/backtests")
    def backtests() -> list[dict[str, Any]]:
        """The reports ``riskstream backtest`` wrote under the backtests folder."""
        return _backtests(settings.backtests)

    @router.get("/backtests/{name}/report.html", include_in_schema=False)
    def backtest_report(name: str) -> FileResponse:
        found = {b["name"] for b in _backtests(settings.backtests)}
        if name not in found:
            raise HTTPException(404, "no such backtest")
        return FileResponse(settings.backtests / name / "report.html")

    @router.get("/api/v1/events", response_class=EventSourceResponse)
    async def updates(request: Request) -> AsyncIterator[ServerSentEvent]:
        """``update`` with the feed's revision each time the topics moved (at most 1/s)."""
        seen = -1
        while not await request.is_disconnected():
            if console.feed.revision != seen:
                seen = console.feed.revision
                yield ServerSentEvent(data={"revision": seen}, event="update")
            await asyncio.sleep(1.0)

    return router


def _writes(console: Console) -> APIRouter:
    """Every write: recorded on the audit topic by the functions the CLI calls."""
    router = APIRouter()
    settings = console.settings

    @router.post("/api/v1/models/{version}/approve")
    def approve(version: str, body: Decision) -> Written:
        """Promote the challenger a manual promotion holds."""
        return console.act(
            lambda: model_actions.decide(settings, version, True, body.actor, body.reason)
        )

    @router.post("/api/v1/models/{version}/reject")
    def reject(version: str, body: Decision) -> Written:
        """End the challenger's challenge; the champion stays."""
        return console.act(
            lambda: model_actions.decide(settings, version, False, body.actor, body.reason)
        )

    @router.post("/api/v1/models/rollback")
    def rollback(body: Rollback) -> Written:
        """Move `champion` back to the previous champion, or to an earlier ``version``."""
        return console.act(
            lambda: model_actions.rollback(settings, body.actor, body.reason, to=body.version)
        )

    @router.post("/api/v1/retrain")
    def retrain(body: Decision) -> Written:
        """Ask the trainer for a new candidate now."""
        return console.act(lambda: model_actions.request_retrain(settings, body.actor, body.reason))

    @router.post("/api/v1/alerts/{alert_id}/ack")
    def acknowledge(alert_id: str, body: Acknowledge) -> Written:
        """Mark an incident as seen."""
        return console.act(
            lambda: alert_actions.acknowledge(
                settings, alert_id, body.subject, body.actor, body.reason
            )
        )

    @router.post("/api/v1/alerts/silence")
    def silence(body: Silence) -> Written:
        """Hold back the webhooks of one alert subject for a while."""
        return console.act(
            lambda: alert_actions.silence(
                settings, body.subject, body.minutes, body.actor, body.reason
            )
        )

    return router


def _version(info: VersionInfo) -> VersionSummary:
    return {
        "version": info.version,
        "aliases": list(info.aliases),
        "created": info.created_ms,
        "metrics": {k: v for k, v in info.metrics.items() if not k.startswith("cv_fold")},
        "tags": {k.removeprefix("riskstream."): info.tags[k] for k in SHOWN_TAGS if k in info.tags},
    }


def _role(
    version: str | None, known: list[VersionSummary], latest: LatestPerformance
) -> Role | None:
    """A role's version with its latest whole-stream served windows: ``estimated`` (before
    labels) and ``realized`` (after), with their sizes."""
    row = next((v for v in known if v["version"] == version), None)
    if row is None:
        return None
    live: LiveMetrics = {}
    estimated = latest.latest.get((row["version"], "all", "ESTIMATED"))
    if estimated is not None:  # undefined metrics were left out of the window's record
        live["estimated"] = {m: estimated.estimated.get(m) for m in views.METRICS}
        live["estimated_low"] = {m: estimated.estimated_low.get(m) for m in views.METRICS}
        live["estimated_high"] = {m: estimated.estimated_high.get(m) for m in views.METRICS}
        live["estimated_n"] = estimated.sample_size
    realized = latest.latest.get((row["version"], "all", "REALIZED"))
    if realized is not None:
        live["realized"] = {m: realized.realized.get(m) for m in views.METRICS}
        live["realized_n"] = realized.sample_size
    return Role(**row, live=live)


def _backtests(root: Path) -> list[dict[str, Any]]:
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir(), reverse=True):
        report = folder / "report.html"
        if report.is_file():
            summary = folder / "summary.json"
            found.append(
                {
                    "name": folder.name,
                    "written": int(report.stat().st_mtime * 1000),
                    "summary": json.loads(summary.read_text()) if summary.is_file() else None,
                    "url": f"/backtests/{folder.name}/report.html",
                }
            )
    return found
