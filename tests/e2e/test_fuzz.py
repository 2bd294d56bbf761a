"""Fuzz the real proxy with hypothesis: the model endpoints (images and chat, streamed and
not), the admin API (keys, router state) and the spend reports, with bodies and query strings
that mix valid-looking shapes with garbage (wrong types, huge numbers, unicode, control
characters, deep nesting, truncated JSON, unknown fields), under the master key, virtual keys
and bad keys.

Whatever is sent, the answer is never a server error (status < 500), and every answer that is
not a success is an OpenAI error body: a JSON object whose ``error`` has a string ``message``
and a string ``type``. A stream is read to its end.

One proxy serves the whole module (the offline ``mock`` provider; its spend database is
PostgreSQL when ``TEST_DATABASE_URL`` names one, the stricter of the two, else SQLite). The run
is derandomized (the same examples every time, no example database), so CI is reproducible.

``IMAGE_PROXY_FUZZ_EXAMPLES`` sets the number of examples per surface (default 20: the
calls take a few seconds; the model endpoints get twice as many, the GETs three times). For a
longer run by hand (the same variable drives the schemathesis run in ``test_openapi.py``)::

    IMAGE_PROXY_FUZZ_EXAMPLES=2000 python3 -m pytest tests/e2e/test_fuzz.py

Each 5xx it found is fixed and tried first on every run (the ``@example``s), with its own
regression test beside the code's other tests.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from proxy.db.database import Store
from tests.conftest import MASTER_KEY
from tests.db.conftest import PG_URL, unique_prefix

FUZZ_EXAMPLES = int(os.environ.get("IMAGE_PROXY_FUZZ_EXAMPLES", "20"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the shared client and keys are the module's
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
MODELS = ["mock-image", "mock-other", "mock-fallback"]

# --- the proxy and its callers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    general: dict[str, Any] = {
        "spend_flush_interval": 0.05,
        "store_prompts_in_spend_logs": True,  # prompts of every shape reach the spend record
    }
    store = None
    if PG_URL.startswith(("postgresql://", "postgres://")):
        store = Store(PG_URL, unique_prefix())
        general.update(database_url=PG_URL, database_table_prefix=store.t.keys.name[:-4])
    else:
        general["database_url"] = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'db.sqlite3'}"
    proc = proxy_factory(
        {
            "model_list": [
                {"model_name": name, "litellm_params": {"model": f"mock/{name}"}} for name in MODELS
            ],
            "router_settings": {"fallbacks": [{"mock-image": ["mock-fallback"]}]},
            "litellm_settings": {"max_end_user_budget": 1000},
            "general_settings": general,
        }
    )
    yield proc
    proc.stop()
    if store is not None:
        asyncio.run(_drop(store))


async def _drop(store: Store) -> None:
    await store.drop_all()
    await store.aclose()


@pytest.fixture(scope="module")
def client(proxy: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.base_url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def keys(client: httpx.Client) -> dict[str, str]:
    """Authorization values: the master key, two virtual keys, and keys that are not."""
    made = {}
    for name, fields in {
        "restricted": {"models": ["mock-image"], "key_alias": "fuzz-restricted"},
        "open": {"key_alias": "fuzz-open", "metadata": {"team": "fuzz"}},
    }.items():
        r = client.post("/key/generate", json=fields, headers=bearer(MASTER_KEY))
        assert r.status_code == 200, r.text
        made[name] = r.json()["key"]
    return {"master": MASTER_KEY, **made, "unknown": "sk-not-a-key", "empty": ""}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"} if key else {}


def check(response: httpx.Response) -> None:
    """Never a server error; anything but a success is an OpenAI error body."""
    request = response.request
    sent = f"{request.method} {request.url} {request.content[:500]!r} -> {response.text[:500]}"
    assert response.status_code < 500, sent
    if response.status_code >= 300:
        body = response.json()
        assert isinstance(body, dict), sent
        error = body.get("error")
        assert isinstance(error, dict), sent
        assert isinstance(error.get("message"), str), sent
        assert isinstance(error.get("type"), str), sent


def send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    with client.stream(method, url, **kwargs) as response:
        response.read()  # a stream to its end
    check(response)
    return response


# --- values -----------------------------------------------------------------------------------

# Text of every kind (non-ASCII, astral, long), with control characters (NUL, CR, LF, ...)
# drawn often.
CONTROL = st.sampled_from(["\x00", "\r", "\n", "\t", "\x1b", "\x7f", "\u2028", "\ufeff"])
text = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.text(max_size=5), CONTROL), max_size=6).map("".join),
    st.sampled_from(["", " ", "x" * 300, "猫", "é", "💥", "sk-", "null", "[]", "{}", "%00"]),
    st.text(st.characters(codec="utf-8"), max_size=10),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 10, 11, 2**31, 2**53 + 1, 2**63, 2**64, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


class Deep:
    """A placeholder for nesting ``depth`` levels deep, written as text by ``encode`` (a
    Python structure that deep could not be encoded by ``json``, nor built cheaply)."""

    def __init__(self, depth: int, kind: str) -> None:
        self.depth, self.kind = depth, kind

    def text(self) -> str:
        if self.kind == "array":
            return "[" * self.depth + "]" * self.depth
        return '{"a":' * self.depth + "null" + "}" * self.depth


DEPTHS = [1, 2, 126, 127, 128, 129, 200, 252, 253, 254, 255, 256, 1022, 1023, 1024, 1025, 10**5]
deep = st.builds(
    Deep,
    st.one_of(st.sampled_from(DEPTHS), st.integers(1, 2000)),
    st.sampled_from(["array", "object"]),
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the shape the field expects, sometimes anything (deep nesting included)."""
    return st.one_of(strategy, strategy, strategy, json_values, deep)


def encode(value: Any) -> bytes:
    """JSON text of ``value``; a ``Deep`` anywhere becomes its nesting, verbatim."""
    marks: list[Deep] = []

    def default(o: Any) -> Any:
        if isinstance(o, Deep):
            marks.append(o)
            return f"\x00deep{len(marks) - 1}\x00"
        raise TypeError(type(o).__name__)

    out = json.dumps(value, default=default)  # NaN and Infinity too: not JSON, to refuse
    for i, mark in enumerate(marks):
        out = out.replace(json.dumps(f"\x00deep{i}\x00"), mark.text())
    return out.encode()


garbage_bytes = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"", b"{", b'{"model":', b"null", b"[]", b'"x"', b"\xef\xbb\xbf{}", b"{}"]),
    deep.map(lambda d: d.text().encode()),
)


anything = st.one_of(json_values, deep, text)


@st.composite
def mutated(
    draw: st.DrawFn,
    required: dict[str, st.SearchStrategy[Any]],
    optional: dict[str, st.SearchStrategy[Any]],
) -> dict[str, Any]:
    """The ``required`` fields and some ``optional`` ones, each drawn valid, then up to
    three mutations: a field dropped, replaced by anything (deep nesting included), or a new
    one added."""
    fields = {**optional, **required}
    names = sorted(fields)
    body = {n: draw(s) for n, s in required.items()}
    body.update({n: draw(s) for n, s in optional.items() if draw(st.booleans())})
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.one_of(st.sampled_from(names), st.sampled_from(names), text))
        how = draw(st.integers(0, 4))
        if how == 0:
            body.pop(name, None)
        elif how == 1 and name in fields:
            body[name] = draw(fields[name])
        else:
            body[name] = draw(anything)
    return body


def bodies(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[bytes]:
    """Mostly such a JSON object (``mutated``), sometimes bytes that are not one at all."""
    shaped = mutated(required, optional).map(encode)
    return st.one_of(shaped, shaped, shaped, garbage_bytes)


def queries(names: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    known = st.dictionaries(st.sampled_from(names), values, max_size=4)
    return st.one_of(known, known, st.dictionaries(text, text, max_size=3))


auth_names = st.sampled_from(["master"] * 5 + ["restricted", "open", "unknown", "empty"])
end_user_header = st.one_of(  # what a header can carry: visible ASCII, spaces inside
    st.none(),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300).map(str.strip),
)


def headers(keys: dict[str, str], who: str, end_user: str | None) -> dict[str, str]:
    h = bearer(keys[who]) | {"content-type": "application/json"}
    if end_user is not None:
        h["x-end-user"] = end_user
    return h


# --- the model endpoints ----------------------------------------------------------------------

# Each field's strategy draws valid values only; ``mutated`` breaks a few fields per body.
prompts = st.text(min_size=1, max_size=40).filter(str.strip)
models = st.sampled_from(MODELS)
image_required = {"model": models, "prompt": prompts}
image_optional = {
    "n": st.integers(1, 3),
    "size": st.sampled_from(["8x8", "16x16", "64x32"]),
    "quality": st.sampled_from(["low", "medium", "high", "hd", "standard", "auto"]),
    "response_format": st.sampled_from(["url", "b64_json"]),
    "stream": st.booleans(),
    "user": st.text(max_size=20),
    "style": st.sampled_from(["vivid", "natural"]),
    "background": st.sampled_from(["transparent", "opaque", "auto"]),
    "output_format": st.sampled_from(["png", "jpeg", "webp"]),
    "fallbacks": st.lists(st.sampled_from(MODELS), max_size=2),
    "disable_fallbacks": st.booleans(),
    "metadata": json_values,
}
# Chat messages hold their own odd parts (``maybe``): a text part whose text is not a string.
part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": maybe(st.text(max_size=20))}),
    st.fixed_dictionaries(
        {
            "type": st.just("image_url"),
            "image_url": maybe(
                st.fixed_dictionaries({"url": st.sampled_from(["data:image/png;base64,AAAA"])})
            ),
        }
    ),
)
message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["system", "developer", "user", "assistant"]),
        "content": maybe(st.one_of(st.text(max_size=20), st.lists(maybe(part), max_size=3))),
    },
    optional={"name": st.text(max_size=10)},
)
chat_required = {"model": models, "messages": st.lists(message, min_size=1, max_size=3)}
chat_optional = {
    "stream": st.booleans(),
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    "max_tokens": st.integers(1, 10**5),
    "temperature": st.floats(0, 2),
    "n": st.just(1),
    "user": st.text(max_size=20),
    "modalities": st.lists(st.sampled_from(["text", "image"]), max_size=2, unique=True),
    "tools": st.lists(
        st.fixed_dictionaries(
            {
                "type": st.just("function"),
                "function": st.fixed_dictionaries(
                    {"name": st.text(max_size=10), "parameters": json_values}
                ),
            }
        ),
        max_size=2,
    ),
    "response_format": st.fixed_dictionaries({"type": st.sampled_from(["text", "json_object"])}),
    "image_response_format": st.sampled_from(["url", "b64_json"]),
    "fallbacks": st.lists(st.sampled_from(MODELS), max_size=2),
    "disable_fallbacks": st.booleans(),
}


def paths(endpoint: str) -> st.SearchStrategy[str]:
    """Mostly the OpenAI path; sometimes its alias, or the Azure-style path with any model."""
    model = st.one_of(st.sampled_from(MODELS), st.text(min_size=1, max_size=20))
    azure = model.map(lambda m: f"/openai/deployments/{quote(m, safe='')}/{endpoint}")
    return st.one_of(
        st.just(f"/v1/{endpoint}"), st.just(f"/v1/{endpoint}"), st.just(f"/{endpoint}"), azure
    )


# The 5xx this suite (or the issue) found, always tried first; each has its own test too.
DEEP_254 = ("[" * 254 + "]" * 254).encode()
FOUND = [
    ("/v1/images/generations", b'{"model": "mock-image", "prompt": "x", "extra": %s}' % DEEP_254),
    (
        "/v1/chat/completions",
        b'{"model": "mock-image", "messages": [{"role": "user", "content": %s}]}' % DEEP_254,
    ),
    (  # the mock provider failed on it
        "/v1/chat/completions",
        b'{"model": "mock-image", "messages": [{"role": "user", "content": '
        b'[{"type": "text", "text": 5}]}]}',
    ),
]
model_requests = st.one_of(
    st.tuples(paths("images/generations"), bodies(image_required, image_optional)),
    st.tuples(paths("chat/completions"), bodies(chat_required, chat_optional)),
)


@settings(FUZZ, max_examples=2 * FUZZ_EXAMPLES)  # two endpoints
@example(request=FOUND[0], who="master", end_user=None)
@example(request=FOUND[1], who="master", end_user=None)
@example(request=FOUND[2], who="open", end_user=None)
@given(request=model_requests, who=auth_names, end_user=end_user_header)
def test_fuzz_model_endpoints(
    client: httpx.Client,
    keys: dict[str, str],
    request: tuple[str, bytes],
    who: str,
    end_user: str | None,
) -> None:
    """Images and chat, streamed or not (``stream`` is one of the fields drawn)."""
    path, body = request
    send(client, "POST", path, content=body, headers=headers(keys, who, end_user))


# --- the admin API ----------------------------------------------------------------------------

key_fields = {
    "models": st.lists(st.sampled_from(MODELS), max_size=3),
    "max_budget": st.floats(0, 1000),
    "budget_duration": st.sampled_from(["30s", "1h", "30d", "2w", "1mo"]),
    "rpm_limit": st.integers(0, 10**6),
    "expires": st.sampled_from(["2099-01-01T00:00:00Z", "2099-01-01", "1d", "2w"]),
    "duration": st.sampled_from(["1h", "1mo"]),
    "metadata": st.dictionaries(st.text(max_size=10), json_values, max_size=3),
    "user_id": st.text(max_size=20),
    "key_alias": st.text(min_size=1, max_size=20),
}
lookups = st.one_of(st.sampled_from(["fuzz-open", "fuzz-restricted", "sk-none", "0" * 64]), text)
admin_auth = st.sampled_from(["master", "master", "master", "open", "unknown"])


@FUZZ
@example(body=b'{"metadata": {"a": %s}}' % DEEP_254, who="master")  # was a 503
@given(body=bodies({}, key_fields), who=admin_auth)
def test_fuzz_key_generate(
    client: httpx.Client, keys: dict[str, str], body: bytes, who: str
) -> None:
    send(client, "POST", "/key/generate", content=body, headers=headers(keys, who, None))


@FUZZ
@given(body=bodies({"key": lookups}, key_fields), who=admin_auth)
def test_fuzz_key_update(client: httpx.Client, keys: dict[str, str], body: bytes, who: str) -> None:
    send(client, "POST", "/key/update", content=body, headers=headers(keys, who, None))


@FUZZ
@given(
    body=bodies(
        {},
        {
            "keys": st.lists(st.one_of(st.sampled_from(["sk-none", "0" * 64]), text), max_size=3),
            "key_aliases": st.lists(text, max_size=3),
        },
    ),
    who=admin_auth,
)
def test_fuzz_key_delete(client: httpx.Client, keys: dict[str, str], body: bytes, who: str) -> None:
    send(client, "POST", "/key/delete", content=body, headers=headers(keys, who, None))


@FUZZ
@given(
    method=st.sampled_from(["GET", "DELETE"]),
    deployment=text,
    who=admin_auth,
)
def test_fuzz_router_state(
    client: httpx.Client, keys: dict[str, str], method: str, deployment: str, who: str
) -> None:
    path = "/router/cooldowns" + (f"/{quote(deployment, safe='')}" if method == "DELETE" else "")
    send(client, method, path, headers=bearer(keys[who]))


# --- every GET with a query: key reads, the spend reports, models, image links -------------------

page_values = st.one_of(
    st.integers(-5, 2**70).map(str), st.sampled_from(["", "1", "1000", "1001", "1e3", "٣"]), text
)


SPEND_FILTERS = [
    "key",
    "api_key",
    "key_hash",
    "key_alias",
    "end_user",
    "user",
    "model",
    "status",
    "start",
    "end",
    "start_date",
    "end_date",
    "start_time",
    "end_time",
    "page",
    "page_size",
    "size",
]
times = st.one_of(
    st.sampled_from(
        [
            "0",
            "-1",
            "1e400",
            "nan",
            "inf",
            "-inf",
            "2025-01-01",
            "2025-01-01T00:00:00Z",
            "2025-13-45",
            "9999-12-31T23:59:59+14:00",
            "0001-01-01T00:00:00-14:00",
            "1" * 40,
        ]
    ),
    st.floats().map(str),
)
spend_values = st.one_of(lookups, page_values, times, st.sampled_from(["200", "404", "599", "x"]))


reads = st.one_of(
    st.tuples(
        st.sampled_from(["/key/info", "/key/list"]),
        queries(["key", "page", "size", "page_size"], st.one_of(lookups, page_values)),
    ),
    st.tuples(
        st.sampled_from(["/spend/logs", "/spend/users", "/global/spend"]),
        queries(SPEND_FILTERS, spend_values),
    ),
    st.tuples(
        st.one_of(
            st.just("/v1/models"),
            st.one_of(st.sampled_from(MODELS), text).map(
                lambda m: f"/v1/models/{quote(m, safe='')}"
            ),
            text.map(lambda f: f"/v1/images/files/{quote(f, safe='')}"),
        ),
        queries(["expires", "sig"], st.one_of(page_values, times, text)),
    ),
)


@settings(FUZZ, max_examples=3 * FUZZ_EXAMPLES)  # keys, spend reports, public reads
@given(request=reads, who=admin_auth)
def test_fuzz_reads(
    client: httpx.Client, keys: dict[str, str], request: tuple[str, dict[str, Any]], who: str
) -> None:
    """Key reads, the spend reports' filters, models and image links: query strings."""
    path, query = request
    send(client, "GET", path, params=query, headers=bearer(keys[who]))


# --- a key as the admin made it, in use ----------------------------------------------------


@FUZZ
@example(  # rpm_limit 0 was an IndexError: a 500 on every call with the key
    fields={"rpm_limit": 0},
    request=("/v1/images/generations", {"model": "mock-image", "prompt": "0"}),
    changes={},
)
@given(
    fields=mutated({}, key_fields),
    request=st.one_of(
        mutated(image_required, image_optional).map(lambda b: ("/v1/images/generations", b)),
        mutated(chat_required, chat_optional).map(lambda b: ("/v1/chat/completions", b)),
    ),
    changes=mutated({}, key_fields),
)
def test_fuzz_a_generated_key_in_use(
    client: httpx.Client,
    fields: dict[str, Any],
    request: tuple[str, dict[str, Any]],
    changes: dict[str, Any],
) -> None:
    """Whatever the key's fields (a zero budget, an odd duration, an expiry in the past, no
    rpm left, models it may not use), generating it, calling a model with it, reading,
    changing and deleting it never fails on the server."""
    master = bearer(MASTER_KEY)
    made = send(client, "POST", "/key/generate", content=encode(fields), headers=master)
    if made.status_code != 200:
        return
    key = made.json()["key"]
    path, body = request
    for _ in range(2):  # the second call sees what the first one spent or counted
        send(client, "POST", path, content=encode(body), headers=bearer(key))
    send(client, "GET", "/key/info", headers=bearer(key))
    update = encode({**changes, "key": key})
    send(client, "POST", "/key/update", content=update, headers=master)
    send(client, "POST", path, content=encode(body), headers=bearer(key))
    send(client, "POST", "/key/delete", content=encode({"keys": [key]}), headers=master)
