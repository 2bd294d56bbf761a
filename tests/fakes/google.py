"""Fake Google upstreams: the Gemini API, Vertex AI and the OAuth token endpoint.

Speaks Google's real wire format (camelCase responses, ``google.rpc.Status`` errors, SSE with
CRLF framing and one ``data:`` line per whole image) and checks what it receives:

- the token endpoint verifies the RS256 JWT assertion google-auth signs with the test's
  service-account key (signature, ``kid``, ``iss``, the constant ``aud``, scope, lifetime);
- Vertex routes refuse any request without a bearer token this fake issued;
- the Gemini API refuses a wrong ``x-goog-api-key`` the way Google does (400 API_KEY_INVALID);
- request bodies are validated with the ``google-genai`` package's own types, and image-model
  rules are enforced (no ``candidateCount > 1``, supported aspect ratios only, Vertex-only
  ``imageConfig`` fields refused on the Gemini API).

Scenarios are picked by markers in the prompt: ``[blocked]``, ``[image-safety]``,
``[text-only]``, ``[filtered]``, ``[refused]``, ``[huge]``, ``[error:STATUS:HTTP]``.
The response builders are module functions so unit tests can validate them with google-genai.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.server import FakeUpstream, Received

GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
IMAGEN_RATIOS = {"1:1", "3:4", "4:3", "9:16", "16:9"}
GEMINI_RATIOS = {
    "1:1",
    "2:3",
    "3:2",
    "3:4",
    "4:3",
    "4:5",
    "5:4",
    "9:16",
    "16:9",
    "21:9",
    "1:4",
    "4:1",
    "1:8",
    "8:1",
}
VERTEX_ONLY_IMAGE_CONFIG = {
    "personGeneration",
    "prominentPeople",
    "imageOutputOptions",
    "outputMimeType",
    "outputCompressionQuality",
}
HUGE_IMAGE_BYTES = 3 * 1024 * 1024
GEMINI_KEY = "AIzaSyFAKE-gemini-upstream-key-0042"  # the key the fake Gemini API takes


# --- response builders (validated against google-genai in tests/unit) ------------------------


def image_b64(tag: str, size: int = 0) -> str:
    payload = b"\x89PNG\r\n\x1a\n" + tag.encode()
    if size > len(payload):
        payload += bytes(i % 251 for i in range(size - len(payload)))
    return base64.b64encode(payload).decode()


def usage_metadata(
    *,
    prompt: int = 9,
    text_out: int = 5,
    image_out: int = 1290,
    prompt_images: int = 0,
    vertex: bool = False,
) -> dict[str, Any]:
    out = text_out + image_out
    usage: dict[str, Any] = {
        "promptTokenCount": prompt + prompt_images,
        "candidatesTokenCount": out,
        "totalTokenCount": prompt + prompt_images + out,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]
        + ([{"modality": "IMAGE", "tokenCount": prompt_images}] if prompt_images else []),
        "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": image_out}]
        + ([{"modality": "TEXT", "tokenCount": text_out}] if text_out else []),
    }
    if vertex:
        usage["trafficType"] = "ON_DEMAND"
    return usage


def gemini_image_response(
    data: str,
    *,
    text: str | None = "Here is your image.",
    mime: str = "image/png",
    thought_image: str | None = None,
    prompt_images: int = 0,
    vertex: bool = False,
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if thought_image:
        parts.append({"inlineData": {"mimeType": mime, "data": thought_image}, "thought": True})
    if text:
        parts.append({"text": text})
    parts.append(
        {
            "inlineData": {"mimeType": mime, "data": data},
            "thoughtSignature": base64.b64encode(b"sig").decode(),
        }
    )
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": parts},
        "finishReason": "STOP",
    }
    if not vertex:
        candidate["index"] = 0
    body: dict[str, Any] = {
        "candidates": [candidate],
        "usageMetadata": usage_metadata(
            text_out=5 if text else 0, prompt_images=prompt_images, vertex=vertex
        ),
        "modelVersion": "gemini-2.5-flash-image",
        "responseId": "hweYaqLDGrSbkdUP46ul0Ac",
    }
    if vertex:
        body["createTime"] = "2026-11-20T10:00:00.000000Z"
    return body


def inline_part(data: bytes, mime: str) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}


def edit_body(
    images: list[tuple[bytes, str]], prompt: str, image_config: dict[str, Any] | None
) -> dict[str, Any]:
    """A Gemini image edit as Google documents it: one user content holding the images as
    ``inlineData`` parts, then the instruction; an image-model ``generationConfig``."""
    config: dict[str, Any] = {"imageConfig": image_config} if image_config else {}
    parts = [inline_part(data, mime) for data, mime in images]
    return {
        "contents": [{"role": "user", "parts": [*parts, {"text": prompt}]}],
        "generationConfig": {**config, "responseModalities": ["TEXT", "IMAGE"]},
    }


def gemini_text_response(text: str, finish: str = "STOP") -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": finish,
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 9,
            "candidatesTokenCount": 12,
            "totalTokenCount": 21,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
        },
        "modelVersion": "gemini-2.5-flash-image",
        "responseId": "textonly0001",
    }


def gemini_prompt_blocked(reason: str = "PROHIBITED_CONTENT") -> dict[str, Any]:
    return {
        "candidates": [],
        "promptFeedback": {
            "blockReason": reason,
            "blockReasonMessage": "The prompt violates the usage policy.",
        },
        "usageMetadata": {
            "promptTokenCount": 9,
            "totalTokenCount": 9,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
        },
        "modelVersion": "gemini-2.5-flash-image",
        "responseId": "blocked00001",
    }


def gemini_finish_blocked(reason: str = "IMAGE_SAFETY") -> dict[str, Any]:
    return {
        "candidates": [
            {
                "finishReason": reason,
                "index": 0,
                "finishMessage": "Unable to show the generated image.",
            }
        ],
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        "modelVersion": "gemini-2.5-flash-image",
        "responseId": "imgsafety001",
    }


def imagen_response(
    images: list[str], *, mime: str = "image/png", filtered: str | None = None
) -> dict[str, Any]:
    predictions: list[dict[str, Any]] = [
        {"bytesBase64Encoded": data, "mimeType": mime} for data in images
    ]
    if filtered:
        predictions.append({"raiFilteredReason": filtered})
    return {"predictions": predictions}


def stream_events(image: str, *, vertex: bool = False) -> list[dict[str, Any]]:
    """A streamed image answer: text first, the whole image in one event, then the finish."""
    usage_start = {
        "promptTokenCount": 9,
        "totalTokenCount": 9,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
    }
    base = {"modelVersion": "gemini-2.5-flash-image", "responseId": "stream000001"}
    return [
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Here is "}]}}],
            "usageMetadata": usage_start,
            **base,
        },
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "your picture."}]}}],
            "usageMetadata": usage_start,
            **base,
        },
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"inlineData": {"mimeType": "image/png", "data": image}}],
                    }
                }
            ],
            "usageMetadata": usage_start,
            **base,
        },
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP"}
            ],
            "usageMetadata": usage_metadata(vertex=vertex),
            **base,
        },
    ]


def google_error(
    http: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": http, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def error_details(status: str) -> list[dict[str, Any]] | None:
    if status == "API_KEY_INVALID":
        return [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    if status == "RESOURCE_EXHAUSTED":
        return [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": (
                            "generativelanguage.googleapis.com/generate_content_requests"
                        ),
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"},
        ]
    return None


def sse_body(events: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)


# --- service accounts --------------------------------------------------------------------------


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class ServiceAccount:
    """A throwaway service-account key; ``info`` is the JSON a user would download."""

    client_email: str
    token_uri: str
    project_id: str = "test-project"
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    key_id: str = "0123456789abcdef0123456789abcdef01234567"

    @property
    def info(self) -> dict[str, Any]:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "1234567890",
            "token_uri": self.token_uri,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "universe_domain": "googleapis.com",
        }


# --- the fake ---------------------------------------------------------------------------------

_PROMPT_ERROR = re.compile(r"\[error:([A-Z_]+):(\d{3})\]")
_VERTEX_PATH = re.compile(
    r"^/vertex/v1/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/:]+):(\w+)$"
)
_GEMINI_PATH = re.compile(r"^/gemini/v1beta/models/([^/:]+):(\w+)$")


def _error(
    http: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    if status == "RESOURCE_EXHAUSTED":
        details = error_details(status)
    return JSONResponse(google_error(http, status, message, details), http)


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _prompt_text(body: dict[str, Any], *, imagen: bool) -> str:
    if imagen:
        return str(body["instances"][0]["prompt"])
    texts = []
    for content in body.get("contents", []):
        for part in content.get("parts", []):
            if "text" in part:
                texts.append(part["text"])
    return " ".join(texts)


def validate_generate_content(body: dict[str, Any], model: str, *, vertex: bool) -> None:
    """The checks Google makes, via google-genai's own types (unknown fields are refused)."""
    from google.genai import types

    if not isinstance(body.get("contents"), list) or not body["contents"]:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
    allowed_top = {
        "contents",
        "generationConfig",
        "systemInstruction",
        "safetySettings",
        "tools",
        "toolConfig",
        "cachedContent",
        "labels",
    }
    for key in body:
        if key not in allowed_top:
            raise BadRequest(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
            )
    try:
        for content in body["contents"]:
            types.Content.model_validate_json(json.dumps(content))
        if "systemInstruction" in body:
            types.Content.model_validate_json(json.dumps(body["systemInstruction"]))
        config = dict(body.get("generationConfig") or {})
        image_config = dict(config.pop("imageConfig", None) or {})
        types.GenerationConfig.model_validate_json(json.dumps(config))
        types.ImageConfig.model_validate_json(json.dumps(image_config))
    except ValueError as exc:
        raise BadRequest(f"Invalid JSON payload received. {str(exc).splitlines()[0]}") from None
    if not vertex:
        for key in image_config:
            if key in VERTEX_ONLY_IMAGE_CONFIG:
                raise BadRequest(
                    f'Invalid JSON payload received. Unknown name "{key}" at '
                    "'generation_config.image_config': Cannot find field."
                )
    if "image" in model:
        if config.get("candidateCount", 1) > 1:
            raise BadRequest(f"Multiple candidates is not enabled for models/{model}")
        ratio = image_config.get("aspectRatio")
        allowed = GEMINI_RATIOS - (
            {"1:4", "4:1", "1:8", "8:1"} if model.startswith("gemini-2.") else set()
        )
        if ratio is not None and ratio not in allowed:
            raise BadRequest(f"Unsupported aspect ratio: {ratio}")
        if "imageSize" in image_config and model.startswith("gemini-2."):
            raise BadRequest("imageSize is not supported for this model.")


def validate_predict(body: dict[str, Any], *, vertex: bool) -> None:
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or "prompt" not in instances[0]:
        raise BadRequest("instances[0].prompt is required")
    params = body.get("parameters") or {}
    count = params.get("sampleCount")
    if not isinstance(count, int) or not 1 <= count <= 4:
        raise BadRequest(f"sampleCount must be between 1 and 4, got {count}")
    if params.get("aspectRatio", "1:1") not in IMAGEN_RATIOS:
        raise BadRequest(f"Unsupported aspect ratio: {params.get('aspectRatio')}")
    if params.get("sampleImageSize", "1K") not in {"1K", "2K"}:
        raise BadRequest("sampleImageSize must be 1K or 2K")
    if not vertex:
        for key in ("negativePrompt", "seed", "addWatermark", "enhancePrompt", "storageUri"):
            if key in params:
                raise BadRequest(f"{key} parameter is not supported in Gemini API.")


@dataclass
class GoogleFake:
    """Installs the Google routes on a ``FakeUpstream``; state survives ``fake.reset()``."""

    upstream: FakeUpstream
    api_key: str
    project: str = "test-project"
    accounts: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    issued: dict[str, str] = field(default_factory=dict)  # token -> client_email
    token_requests: list[str] = field(default_factory=list)  # client_email per grant
    vertex_calls: list[tuple[str, str]] = field(default_factory=list)  # (path, token)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def token_uri(self) -> str:
        return f"{self.upstream.base}/google/token"

    def service_account(self, name: str, *, registered: bool = True) -> ServiceAccount:
        sa = ServiceAccount(
            f"{name}@{self.project}.iam.gserviceaccount.com", self.token_uri, self.project
        )
        if registered:
            self.accounts[sa.client_email] = sa.key.public_key()
        return sa

    def install(self) -> GoogleFake:
        self.upstream.route("POST", "/google/token", self.token)
        self.upstream.route("POST", "/gemini/v1beta/models/*", self.gemini)
        self.upstream.route("POST", "/vertex/v1/projects/*", self.vertex)
        return self

    # --- OAuth ---------------------------------------------------------------------------

    def token(self, req: Received) -> Response:
        if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return JSONResponse({"error": "invalid_request"}, 400)
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        try:
            email = self._verify_assertion(form.get("assertion", ""))
        except ValueError as exc:
            return JSONResponse({"error": "invalid_grant", "error_description": str(exc)}, 400)
        with self._lock:
            self.token_requests.append(email)
            token = f"ya29.fake-{len(self.issued) + 1}-{email.split('@')[0]}"
            self.issued[token] = email
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _verify_assertion(self, assertion: str) -> str:
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(b64url_decode(head_b64))
            claims = json.loads(b64url_decode(claims_b64))
        except (ValueError, TypeError):
            raise ValueError("Invalid JWT.") from None
        if header.get("alg") != "RS256" or header.get("typ") != "JWT":
            raise ValueError("Invalid JWT header.")
        email = claims.get("iss")
        public = self.accounts.get(email)
        if public is None:
            raise ValueError("Invalid grant: account not found")
        try:
            public.verify(
                b64url_decode(sig_b64),
                f"{head_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:
            raise ValueError("Invalid JWT Signature.") from None
        now = time.time()
        if claims.get("aud") != GOOGLE_TOKEN_AUD:
            raise ValueError("Invalid JWT: aud")
        if SCOPE not in str(claims.get("scope", "")).split():
            raise ValueError("Invalid JWT: scope")
        if not claims.get("iat", 0) - 300 <= now < claims.get("exp", 0) <= claims["iat"] + 3600:
            raise ValueError("Invalid JWT: Token must be a short-lived token")
        return str(email)

    # --- the Gemini API ------------------------------------------------------------------

    def gemini(self, req: Received) -> Response:
        match = _GEMINI_PATH.match(req.path)
        if not match:
            return _error(404, "NOT_FOUND", f"Not found: {req.path}")
        model, action = match.groups()
        if req.headers.get("x-goog-api-key") != self.api_key:
            return _error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                error_details("API_KEY_INVALID"),
            )
        return self._answer(req, model, action, vertex=False)

    # --- Vertex AI -------------------------------------------------------------------------

    def vertex(self, req: Received) -> Response:
        match = _VERTEX_PATH.match(req.path)
        if not match:
            return _error(404, "NOT_FOUND", f"Not found: {req.path}")
        project, location, model, action = match.groups()
        auth = req.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or token not in self.issued:
            return _error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential.",
            )
        if project != self.project:
            return _error(
                403,
                "PERMISSION_DENIED",
                f"Permission 'aiplatform.endpoints.predict' denied on resource "
                f"'//aiplatform.googleapis.com/projects/{project}' (or it may not "
                "exist).",
            )
        with self._lock:
            self.vertex_calls.append((req.path, token))
        return self._answer(req, model, action, vertex=True, location=location)

    # --- shared ----------------------------------------------------------------------------

    def _answer(
        self, req: Received, model: str, action: str, *, vertex: bool, location: str = ""
    ) -> Response:
        imagen = model.startswith(("imagen", "imagegeneration"))
        try:
            body = req.json()
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        try:
            if imagen:
                if action != "predict":
                    raise BadRequest(f"Imagen cannot be accessed through {action}")
                validate_predict(body, vertex=vertex)
            else:
                if action == "predict":
                    raise BadRequest(
                        "Gemini cannot be accessed through Vertex Predict/"
                        "RawPredict API. Please follow the docs."
                    )
                if action not in ("generateContent", "streamGenerateContent"):
                    return _error(404, "NOT_FOUND", f"unknown action {action}")
                validate_generate_content(body, model, vertex=vertex)
            prompt = _prompt_text(body, imagen=imagen)
        except BadRequest as exc:
            return _error(400, "INVALID_ARGUMENT", exc.message)
        error = _PROMPT_ERROR.search(prompt)
        if error:
            status, http = error.group(1), int(error.group(2))
            if status == "API_KEY_INVALID":
                return _error(
                    400, "INVALID_ARGUMENT", "API key not valid.", error_details("API_KEY_INVALID")
                )
            return _error(http, status, f"fake {status.lower()} for {model}")
        if imagen:
            return self._imagen(body, model, prompt)
        if action == "streamGenerateContent":
            if req.query.get("alt") != "sse":
                return _error(400, "INVALID_ARGUMENT", "the proxy must ask for alt=sse")
            return self._stream(body, model, prompt, vertex=vertex)
        return JSONResponse(self._content(body, model, prompt, vertex=vertex))

    def _imagen(self, body: dict[str, Any], model: str, prompt: str) -> Response:
        params = body["parameters"]
        if "[refused]" in prompt:
            return _error(
                400,
                "INVALID_ARGUMENT",
                "Image generation failed with the following error: The prompt could "
                "not be submitted. This prompt contains sensitive words that violate "
                "Google's Responsible AI practices. Try rephrasing the prompt.",
            )
        if "[filtered]" in prompt:
            return JSONResponse(
                {
                    "predictions": [
                        {
                            "raiFilteredReason": "Unable to show generated images. All images "
                            "were filtered out because they violated Vertex AI's usage "
                            "guidelines. Support codes: 39322892"
                        }
                    ]
                }
            )
        ratio = params.get("aspectRatio", "1:1")
        mime = params.get("outputOptions", {}).get("mimeType", "image/png")
        images = [image_b64(f"{model}|{ratio}|{i}") for i in range(params["sampleCount"])]
        return JSONResponse(imagen_response(images, mime=mime))

    def _content(
        self, body: dict[str, Any], model: str, prompt: str, *, vertex: bool
    ) -> dict[str, Any]:
        if "[blocked]" in prompt:
            return gemini_prompt_blocked()
        if "[image-safety]" in prompt:
            return gemini_finish_blocked()
        config = body.get("generationConfig") or {}
        modalities = [m.upper() for m in config.get("responseModalities", ["TEXT"])]
        if "[text-only]" in prompt or "IMAGE" not in modalities or "image" not in model:
            return gemini_text_response("I can only describe it: a calm sea.")
        ratio = (config.get("imageConfig") or {}).get("aspectRatio", "1:1")
        input_images = sum(
            1
            for c in body["contents"]
            for p in c["parts"]
            if "inlineData" in p or "inline_data" in p
        )
        with self._lock:
            serial = len(self.upstream.requests)
        return gemini_image_response(
            image_b64(f"{model}|{ratio}|{serial}"),
            prompt_images=258 * input_images,
            thought_image=image_b64("thought") if model.startswith("gemini-3") else None,
            vertex=vertex,
        )

    def _stream(self, body: dict[str, Any], model: str, prompt: str, *, vertex: bool) -> Response:
        if "[blocked]" in prompt:
            events = [gemini_prompt_blocked()]
        elif "[late-block]" in prompt:
            events = [
                *stream_events(image_b64("x"), vertex=vertex)[:2],
                {
                    "candidates": [{"finishReason": "SAFETY", "index": 0}],
                    "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
                },
            ]
        else:
            size = HUGE_IMAGE_BYTES if "[huge]" in prompt else 0
            events = stream_events(image_b64(f"{model}|stream", size), vertex=vertex)
        payload = sse_body(events)

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(payload), 65536):
                yield payload[i : i + 65536]

        return StreamingResponse(chunks(), media_type="text/event-stream")
