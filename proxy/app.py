"""create_app(config): every service built once, the request stages listed in order, the
routes mounted; the result is frozen."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from proxy.api import (
    chat,
    console,
    deployments,
    docs,
    edits,
    files,
    gallery,
    health,
    images,
    keys,
    metrics,
    model_info,
    models,
    routing_admin,
    spend,
    spend_report,
)
from proxy.api.endpoint import error_response
from proxy.attempt.caller import Caller
from proxy.auth import Authenticator
from proxy.blob import MemoryBudget
from proxy.config import GeneralSettings, ProxyConfig
from proxy.errors import InternalError, NotFoundError, ProxyError
from proxy.guardrails.build import build_guardrails
from proxy.hooks import Hooks, PostCall, PreCall
from proxy.images.chat import take_image_format
from proxy.images.gallery import gallery_store
from proxy.images.gallery_keeper import GalleryKeeper
from proxy.images.inputs import InputImages
from proxy.images.service import Delivery
from proxy.keys.build import build_accounting
from proxy.keys.end_users import require_end_user
from proxy.keys.replicas import build_replicas
from proxy.lifecycle import Lifecycle
from proxy.observability import build_observability
from proxy.observability.logging import stop_log_writer
from proxy.pipeline import Pipeline, credentials_for
from proxy.providers import mock
from proxy.routing.router import Router
from proxy.server.front import App
from proxy.server.heap import settle as settle_heap
from proxy.server.http import HttpLimits
from proxy.server.malloc import tune as tune_malloc
from proxy.server.pacing import LoopPacer
from proxy.services import Services
from proxy.sessions import Sessions
from proxy.state.build import build_state
from proxy.transport import MockTransport, Transport, Transports

log = logging.getLogger("proxy")


async def proxy_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProxyError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no route: 404, wrong method: 405) as OpenAI error bodies."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFoundError(f"No route {request.url.path}.", code="not_found"))
    err = ProxyError(str(exc.detail), status=exc.status_code, headers=dict(exc.headers or {}))
    err.type = "invalid_request_error"
    return error_response(err)


async def internal_error(request: Request, exc: Exception) -> Response:
    """Whatever escaped a route: logged by its class only, answered as an OpenAI 500."""
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_response(InternalError("Internal error."))


def http_limits(general: GeneralSettings) -> HttpLimits:
    return HttpLimits(
        header_timeout=general.request_header_timeout,
        body_timeout=general.request_body_timeout,
        max_header_bytes=general.max_request_header_bytes,
        max_headers=general.max_request_headers,
    )


def build_services(config: ProxyConfig) -> Services:
    """Every long-lived object, built once; the request stages in the one order they run."""
    pacer = LoopPacer()
    limits = config.upstream_limits  # every answer is read into these, whoever serves it
    transport = Transports(Transport(limits), {"mock": MockTransport(mock.handle, limits)})
    mock.preload(config)
    accounting = build_accounting(config, pacer)  # pricing, keys, budgets, spend logs
    journal = accounting.writer.journal  # every upstream call is journaled as it goes out
    caller = Caller(transport, credentials_for(config), pace=pacer.take_turn, journal=journal)
    shared = build_state(config)  # None: no Redis, this process's state only
    router = Router(config, caller, state=shared, price=accounting.pricer)
    observability = build_observability(config, pacer)
    guardrails, guardrails_lifecycle = build_guardrails(config)
    replica_keys, replicas_lifecycle = build_replicas(config, router.state, accounting.keys)
    delivery = Delivery.from_config(config)
    files = gallery_store(config)  # the console gallery, when it is on
    gallery = GalleryKeeper(files, accounting.store) if files is not None else None
    dead_lettered = observability.metrics.spend_dead_lettered
    accounting.writer.refusal_listeners.append(lambda _refused: dead_lettered.inc())

    pre_call: tuple[PreCall, ...] = (
        observability.keep_prompt,  # first: a request refused later is still logged with it
        *((require_end_user,) if config.general.enforce_user_param else ()),
        accounting.accounting.before,  # key, end-user and budget checks in this process
        *((replica_keys.before,) if replica_keys else ()),  # the same across replicas
        router.fallbacks.take_from_request,
        take_image_format,  # chat's image_response_format; url refused on streamed images
        InputImages(delivery).check,  # data: URI images held to the downloader's rules
        guardrails.pre_call,  # last: only requests that passed every other check
    )
    post_call: tuple[PostCall, ...] = (
        accounting.accounting.after,  # price settled, spend record queued
        *((replica_keys.after,) if replica_keys else ()),
        *((gallery.after,) if gallery else ()),  # images kept in the background
    )
    hooks = Hooks(pre_call, post_call, observability.observers, pacer)
    auth = Authenticator(
        config.general.master_key,
        open_access=config.general.allow_unauthenticated_access,
        lookup=accounting.keys.lookup_hash,
        sessions=Sessions(shared=shared),  # the console's sign-ins, on every replica
        allowed_ips=config.general.allowed_networks(),
    )
    pipeline = Pipeline(config, auth, router, transport, caller, hooks, accounting.pricer)
    discovery = caller.discovery

    async def discover() -> None:
        discovery.start(config.deployments)

    lifecycle = (
        Lifecycle(startup=(delivery.start,), shutdown=(delivery.aclose,))
        + Lifecycle(startup=(discover,), shutdown=(discovery.aclose,))
        + accounting.lifecycle
        + observability.lifecycle
        + guardrails_lifecycle
        + replicas_lifecycle  # last: started once what it shares exists
    )
    if gallery is not None:
        lifecycle = lifecycle + Lifecycle(startup=(gallery.start,), shutdown=(gallery.aclose,))
    return Services(
        pipeline=pipeline,
        delivery=delivery,
        store=accounting.store,
        spend_writer=accounting.writer,
        keys=accounting.keys,
        accounting=accounting.accounting,
        metrics=observability.metrics,
        observability=observability.settings,
        guardrails=guardrails,
        replica_keys=replica_keys,
        lifecycle=lifecycle,
        upload_memory=MemoryBudget(config.image_upload_memory_bytes),
        gallery=gallery,
    )


def create_app(config: ProxyConfig) -> App:
    services = build_services(config)
    pipeline = services.pipeline

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        tune_malloc()  # in every process that serves, workers included
        for start in services.lifecycle.startup:
            await start()
        settle_heap()
        try:
            yield
        finally:
            for stop in reversed(services.lifecycle.shutdown):
                try:
                    await stop()
                except Exception as exc:
                    log.error("shutdown step failed: %s", type(exc).__name__)
            await pipeline.aclose()
            stop_log_writer()  # what the stop logged is out before uvicorn re-raises SIGTERM

    routes = [
        route
        for module in (
            images,
            edits,
            chat,
            models,
            model_info,
            health,
            files,
            routing_admin,
            metrics,
            keys,
            spend,
            spend_report,
            deployments,
            gallery,
        )
        for route in module.routes
    ]
    app = App(
        services,
        routes=[*routes, *docs.routes, *console.routes],
        in_flight=services.metrics.in_flight,
        http_limits=http_limits(config.general),
        lifespan=lifespan,
        exception_handlers={
            ProxyError: proxy_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
    for path, endpoint in (*images.direct, *chat.direct):
        app.serve_directly(path, endpoint)
    return app
