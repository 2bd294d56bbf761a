"""OpenRouter's image model list (``openrouter_api: auto``): what is read from it, which
endpoint a request then takes, and how the attempt layer's ``Discovery`` asks and keeps it
(one question per URL, shared while in flight, failures retried after ``FAILURE_TTL``, old
answers refreshed in the background)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from proxy.attempt.discovery import ANSWER_TTL, FAILURE_TTL, Discovery
from proxy.attempt.discovery import learned_facts as facts
from proxy.config import Deployment
from proxy.credentials.base import NoCredentials
from proxy.errors import UpstreamUnavailableError
from proxy.providers.openrouter.catalogue import catalogue_request, learn_listing
from proxy.providers.openrouter.common import LISTED, STREAMS, uses_images_api
from proxy.providers.openrouter.images import OpenRouterImages
from proxy.upstream_request import UpstreamRequest, UpstreamResponse
from tests.e2e.test_openrouter_auto import LISTING
from tests.unit.test_edit_translation import deployment as configured

ADAPTER = OpenRouterImages()
LISTED_MODEL = "openrouter/bytedance-seed/seedream-4.5"


def dep(model: str = LISTED_MODEL, **params: Any) -> Deployment:
    return configured(model, api_key="sk-or-test", **params)


def answer(body: Any, status: int = 200) -> UpstreamResponse:
    return UpstreamResponse(status, {}, orjson.dumps(body))


def test_the_question_is_the_lists_get_with_attribution_and_only_under_auto() -> None:
    question = catalogue_request(dep(x_title="My App"))
    assert question is not None and question.method == "GET" and question.body is None
    assert question.url.endswith("/api/v1/images/models")
    assert question.headers == {"X-Title": "My App"}
    assert catalogue_request(dep(openrouter_api="auto")) is not None
    assert catalogue_request(dep(openrouter_api="chat")) is None
    assert catalogue_request(dep(openrouter_api="images")) is None


def test_learned_from_the_recorded_list() -> None:
    assert learn_listing(answer(LISTING), dep()) == {LISTED: True, STREAMS: False}
    gpt = dep("openrouter/OpenAI/GPT-Image-2")  # slugs compare without case
    assert learn_listing(answer(LISTING), gpt) == {LISTED: True, STREAMS: True}
    other = dep("openrouter/google/gemini-2.5-flash-image")
    assert learn_listing(answer(LISTING), other) == {LISTED: False}
    bodies: list[Any] = [{}, {"data": {}}, [], {"data": None}]
    for body in bodies:
        with pytest.raises(ValueError):
            learn_listing(answer(body), dep())


def test_which_endpoint_a_request_takes() -> None:
    listed = dep()
    assert not uses_images_api(listed, {})  # nothing learned yet: chat
    listed.learned[LISTED] = True
    assert uses_images_api(listed, {})
    for chat_option in ("image_config", "modalities", "image_size"):
        assert not uses_images_api(listed, {chat_option: "x"})
    configured_chat = dep(image_config={"aspect_ratio": "1:1"})
    configured_chat.learned[LISTED] = True
    assert not uses_images_api(configured_chat, {})
    assert uses_images_api(dep(openrouter_api="images"), {"image_config": {}})
    chat = dep(openrouter_api="chat")
    chat.learned[LISTED] = True
    assert not uses_images_api(chat, {})


class Upstream:
    """A scripted OpenRouter: answers the list from ``answers`` (an exception is raised),
    each question waiting for ``gate`` when one is set."""

    def __init__(self, *answers: UpstreamResponse | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[UpstreamRequest] = []
        self.gate: asyncio.Event | None = None

    async def send(self, request: UpstreamRequest, timeout: float, provider: str) -> Any:
        self.asked.append(request)
        if self.gate is not None:
            await self.gate.wait()
        result = self.answers.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def discovery(upstream: Upstream, *deployments: Deployment) -> tuple[Discovery, Clock]:
    clock = Clock()
    credentials: dict[str, Any] = {d.id: NoCredentials() for d in deployments}
    return Discovery(upstream, credentials, clock), clock  # type: ignore[arg-type]


async def test_concurrent_requests_share_one_question_and_deployments_one_answer() -> None:
    upstream = Upstream(answer(LISTING))
    upstream.gate = asyncio.Event()
    seedream, gemini = dep(), dep("openrouter/google/gemini-2.5-flash-image")
    found, _ = discovery(upstream, seedream, gemini)
    waiting = [asyncio.create_task(found.prepare(d, ADAPTER)) for d in (seedream, gemini, seedream)]
    await asyncio.sleep(0)  # one turn of the loop: all three wait
    upstream.gate.set()
    await asyncio.gather(*waiting)
    assert len(upstream.asked) == 1
    assert facts(seedream) == {LISTED: True, STREAMS: False}
    assert facts(gemini) == {LISTED: False}
    await found.prepare(seedream, ADAPTER)
    assert len(upstream.asked) == 1
    again = dep()  # a deployment built again under the same id (a wildcard's, say) learns too
    assert again.id == seedream.id and again.learned == {}
    await found.prepare(again, ADAPTER)
    assert facts(again) == {LISTED: True, STREAMS: False} and len(upstream.asked) == 1


async def test_a_failed_question_teaches_nothing_and_is_asked_again_after_a_minute() -> None:
    upstream = Upstream(
        UpstreamUnavailableError("connection refused"), answer({}, 500), answer(LISTING)
    )
    seedream = dep()
    found, clock = discovery(upstream, seedream)
    await found.prepare(seedream, ADAPTER)
    assert facts(seedream) == {} and len(upstream.asked) == 1
    clock.now += FAILURE_TTL - 1
    await found.prepare(seedream, ADAPTER)
    assert len(upstream.asked) == 1  # not asked on every request
    clock.now += 1
    await found.prepare(seedream, ADAPTER)  # a 500: still nothing
    assert facts(seedream) == {} and len(upstream.asked) == 2
    clock.now += FAILURE_TTL
    await found.prepare(seedream, ADAPTER)
    assert seedream.learned[LISTED] is True and len(upstream.asked) == 3


async def test_a_server_without_the_list_is_asked_again_an_hour_later() -> None:
    upstream = Upstream(answer({"error": {"message": "not found"}}, 404), answer(LISTING))
    seedream = dep()
    found, clock = discovery(upstream, seedream)
    await found.prepare(seedream, ADAPTER)
    clock.now += FAILURE_TTL
    await found.prepare(seedream, ADAPTER)
    assert facts(seedream) == {} and len(upstream.asked) == 1
    clock.now += ANSWER_TTL
    await found.prepare(seedream, ADAPTER)
    assert facts(seedream)[LISTED] is True and len(upstream.asked) == 2


async def test_an_unreadable_list_teaches_nothing() -> None:
    seedream = dep()
    found, _ = discovery(Upstream(answer({"models": []})), seedream)
    await found.prepare(seedream, ADAPTER)
    assert facts(seedream) == {}


async def test_an_old_answer_serves_while_the_new_one_is_asked_in_the_background() -> None:
    no_longer = {"data": [m for m in LISTING["data"] if m["id"] != "bytedance-seed/seedream-4.5"]}
    upstream = Upstream(answer(LISTING), answer(no_longer))
    seedream = dep()
    found, clock = discovery(upstream, seedream)
    await found.prepare(seedream, ADAPTER)
    clock.now += ANSWER_TTL
    upstream.gate = asyncio.Event()
    await found.prepare(seedream, ADAPTER)  # does not wait for the new answer
    await asyncio.sleep(0)  # one turn of the loop: the question goes out
    assert seedream.learned[LISTED] is True and len(upstream.asked) == 2
    upstream.gate.set()
    await asyncio.gather(*found.asking.values())
    await found.prepare(seedream, ADAPTER)
    assert facts(seedream) == {LISTED: False}


async def test_start_teaches_in_the_background_with_one_question() -> None:
    upstream = Upstream(answer(LISTING))
    upstream.gate = asyncio.Event()
    seedream, gemini = dep(), dep("openrouter/google/gemini-2.5-flash-image")
    fixed = dep(openrouter_api="images")
    found, _ = discovery(upstream, seedream, gemini, fixed)
    found.start([seedream, gemini, fixed])  # returns at once: nothing waits for the answer
    assert facts(seedream) == {} and len(found.starting) == 3
    upstream.gate.set()
    await asyncio.gather(*found.starting)
    assert len(upstream.asked) == 1
    assert facts(seedream) == {LISTED: True, STREAMS: False}
    assert facts(gemini) == {LISTED: False} and facts(fixed) == {}


async def test_close_cancels_what_start_began() -> None:
    upstream = Upstream(answer(LISTING))
    upstream.gate = asyncio.Event()  # never set: the question hangs
    seedream = dep()
    found, _ = discovery(upstream, seedream)
    found.start([seedream])
    await found.aclose()
    assert found.starting == set() and found.asking == {} and seedream.learned == {}


async def test_what_a_deployment_learned_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    seedream = dep()
    found, clock = discovery(Upstream(answer(LISTING), answer(LISTING)), seedream)
    with caplog.at_level("INFO", logger="proxy.discovery"):
        await found.prepare(seedream, ADAPTER)
        clock.now += ANSWER_TTL
        await found.prepare(seedream, ADAPTER)  # asks again in the background
        await asyncio.gather(*found.asking.values())
        await found.prepare(seedream, ADAPTER)  # the same facts: nothing more said
    said = [r.getMessage() for r in caplog.records if r.name == "proxy.discovery"]
    assert said == [
        f"{seedream.path} ({seedream.model_name}): "
        "openrouter.images_api = True, openrouter.streams = False"
    ]
