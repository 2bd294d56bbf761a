"""The one table of providers: prefix -> adapters, default base URL, credentials.

Adding a provider is one module (or folder) and one entry here. A pair (provider, endpoint)
missing from the table is refused when the config loads or, for an endpoint the deployment
was not declared for, with a 400 naming the model.

Image edits and variations are capabilities of the image adapter (``ImageEditor``,
``ImageVariator``): a deployment whose ``model_info.mode`` is ``image_edit`` must be able to
edit, or the config is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from proxy.config.credential_env import CredentialEnv, KeyRule
from proxy.config.deployment import Deployment
from proxy.config.served import ModelKindTest
from proxy.credentials.base import Credentials, HeaderKey, NoCredentials, bearer
from proxy.providers import image_models
from proxy.providers.base import (
    ChatAdapter,
    ImageAdapter,
    ImageEditor,
    ImageVariator,
    capable,
)
from proxy.providers.bedrock import images as bedrock
from proxy.providers.bedrock import urls as bedrock_urls
from proxy.providers.bfl import images as bfl
from proxy.providers.fal import images as fal
from proxy.providers.google import provider as google
from proxy.providers.google.gemini_chat import GeminiChat
from proxy.providers.google.images import GoogleImages
from proxy.providers.google.settings import VERTEX_ENV
from proxy.providers.mock.adapters import MockChat, MockImages
from proxy.providers.openai import azure
from proxy.providers.openai.azure import AzureChat, AzureImages
from proxy.providers.openai.chat import OpenAIChat
from proxy.providers.openai.nscale import NscaleImages
from proxy.providers.openai.variations import OpenAIImageVariations
from proxy.providers.openai.xinference import XinferenceImages
from proxy.providers.openrouter import common as openrouter
from proxy.providers.openrouter.chat import OpenRouterChat
from proxy.providers.openrouter.images import OpenRouterImages
from proxy.providers.recraft import images as recraft
from proxy.providers.recraft.edits import RecraftImageEdits
from proxy.providers.stability import images as stability
from proxy.providers.together import images as together
from proxy.providers.xai import images as xai

NEEDS_A_KEY = CredentialEnv()  # no variables of LiteLLM's, a key (or an api_base) required


def _no_problem(deployment: Deployment) -> str | None:
    return None


def _bearer(deployment: Deployment) -> Credentials:
    return bearer(deployment.params.api_key)


def _azure_credentials(deployment: Deployment) -> Credentials:
    token = deployment.param("azure_ad_token")
    if token:
        return HeaderKey("authorization", f"Bearer {token}")
    if deployment.params.api_key:
        return HeaderKey("api-key", deployment.params.api_key)
    return NoCredentials()


def _xai_credentials(deployment: Deployment) -> Credentials:
    return bearer(xai.api_key(deployment))


def _together_credentials(deployment: Deployment) -> Credentials:
    return bearer(together.api_key(deployment))


def _none(deployment: Deployment) -> Credentials:
    return NoCredentials()


def _bfl_credentials(deployment: Deployment) -> Credentials:
    key = bfl.api_key(deployment)  # api_key, else BFL_API_KEY / BLACK_FOREST_LABS_API_KEY
    return HeaderKey("x-key", key) if key else NoCredentials()


def _bedrock_credentials(deployment: Deployment) -> Credentials:
    # botocore costs ~50 ms and ~8 MB at start-up: loaded only when a Bedrock deployment is.
    from proxy.credentials.aws import bedrock_credentials

    return bedrock_credentials(deployment, bedrock_urls.region(deployment) or "")


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    images: ImageAdapter | None
    chat: ChatAdapter | None
    credentials: Callable[[Deployment], Credentials] = _bearer
    validate: Callable[[Deployment], str | None] = _no_problem
    # environment variables its deployments read, captured when the config loads
    environment: tuple[str, ...] = ()
    # LiteLLM's variables for api_key / api_base / api_version, applied by the loader when
    # the config names none, and whether a key is needed (``proxy.config.credential_env``)
    credential_env: CredentialEnv = NEEDS_A_KEY
    # the kind of model an id names (image / chat / other / None), for the config's skipping
    # rule (``proxy.config.served``); None: an image-only provider, every model served
    model_kind: ModelKindTest | None = None

    def check(self, deployment: Deployment) -> str | None:
        """The config check of one deployment: the provider's own, then the capability its
        ``model_info.mode`` declares."""
        problem = self.validate(deployment)
        if problem is None and deployment.info.mode in EDIT_MODES:
            refusal = edit_refusal(deployment, self)
            if refusal is not None:
                problem = f"model_info.mode: {deployment.info.mode} but {refusal}"
        return problem


EDIT_MODES = ("image_edit",)  # LiteLLM's model_info.mode of an edit deployment


def edit_refusal(deployment: Deployment, spec: ProviderSpec | None = None) -> str | None:
    """Why ``deployment`` cannot serve ``/v1/images/edits``, or None when it can."""
    adapter = (spec or PROVIDERS[deployment.provider]).images
    if not capable(adapter, ImageEditor):
        return f"provider {deployment.provider} has no image edit API"
    return cast(ImageEditor, adapter).edit_refusal(deployment)


def variation_refusal(deployment: Deployment) -> str | None:
    """Why ``deployment`` cannot serve ``/v1/images/variations``, or None when it can."""
    adapter = PROVIDERS[deployment.provider].images
    if not capable(adapter, ImageVariator):
        return f"provider {deployment.provider} has no image variations"
    return cast(ImageVariator, adapter).variation_refusal(deployment)


PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec(
            "openai",
            OpenAIImageVariations(),
            OpenAIChat(),
            credential_env=CredentialEnv(
                ("OPENAI_API_KEY",), ("OPENAI_BASE_URL", "OPENAI_API_BASE")
            ),
            model_kind=image_models.by_name,
        ),
        ProviderSpec(
            "azure",
            AzureImages(),
            AzureChat(),
            _azure_credentials,
            azure.validate,
            credential_env=CredentialEnv(
                ("AZURE_OPENAI_API_KEY", "AZURE_API_KEY"),  # in LiteLLM's order
                ("AZURE_API_BASE",),
                ("AZURE_API_VERSION",),
                KeyRule.REQUIRED,
                other_credentials=("azure_ad_token",),
                other_env=(("azure_ad_token", ("AZURE_AD_TOKEN",)),),
            ),
            model_kind=image_models.by_name,
        ),
        ProviderSpec(
            "xinference",
            XinferenceImages(),
            None,
            credential_env=CredentialEnv(
                ("XINFERENCE_API_KEY",), ("XINFERENCE_API_BASE",), key_rule=KeyRule.NONE
            ),
            model_kind=image_models.by_name,
        ),
        ProviderSpec(
            "nscale",
            NscaleImages(),
            None,
            credential_env=CredentialEnv(("NSCALE_API_KEY",), ("NSCALE_API_BASE",)),
        ),
        ProviderSpec(
            "mock",
            MockImages(),
            MockChat(),
            _none,
            credential_env=CredentialEnv(key_rule=KeyRule.NONE),
        ),
        ProviderSpec(
            "recraft",
            RecraftImageEdits(),
            None,
            validate=recraft.validate,
            credential_env=CredentialEnv(("RECRAFT_API_KEY",)),
        ),
        ProviderSpec(
            "openrouter",
            OpenRouterImages(),
            OpenRouterChat(),
            validate=openrouter.validate,
            credential_env=CredentialEnv(
                ("OPENROUTER_API_KEY", "OR_API_KEY"), ("OPENROUTER_API_BASE",)
            ),
            model_kind=image_models.by_name,
        ),
        ProviderSpec(
            "bedrock",
            bedrock.BedrockImages(),
            None,
            _bedrock_credentials,
            bedrock.validate,
            environment=bedrock_urls.ENVIRONMENT,
            credential_env=CredentialEnv(key_rule=KeyRule.NONE),  # the AWS chain
            model_kind=image_models.bedrock_family,
        ),
        ProviderSpec(
            "gemini",
            GoogleImages("gemini"),
            GeminiChat("gemini"),
            google.gemini_credentials,
            credential_env=CredentialEnv(
                ("GOOGLE_API_KEY", "GEMINI_API_KEY"), ("GEMINI_API_BASE",)
            ),
            model_kind=image_models.google_family,
        ),
        ProviderSpec(
            "vertex_ai",
            GoogleImages("vertex_ai"),
            GeminiChat("vertex_ai"),
            google.vertex_credentials,
            google.validate_vertex,
            environment=VERTEX_ENV,
            credential_env=CredentialEnv(key_rule=KeyRule.NONE),  # Google OAuth / ADC
            model_kind=image_models.google_family,
        ),
        ProviderSpec(
            "black_forest_labs",
            bfl.BlackForestLabsImages(),
            None,
            _bfl_credentials,
            bfl.validate,
            credential_env=CredentialEnv(
                ("BFL_API_KEY", "BLACK_FOREST_LABS_API_KEY"), ("BFL_API_BASE",)
            ),
        ),
        ProviderSpec(
            "xai",
            xai.XAIImages(),
            None,
            _xai_credentials,
            credential_env=CredentialEnv(("XAI_API_KEY",), ("XAI_API_BASE",)),
            model_kind=image_models.by_name,
        ),
        ProviderSpec(
            "together_ai",
            together.TogetherImages(),
            None,
            _together_credentials,
            credential_env=CredentialEnv(
                (
                    "TOGETHER_API_KEY",
                    "TOGETHER_AI_API_KEY",
                    "TOGETHERAI_API_KEY",
                    "TOGETHER_AI_TOKEN",
                ),
                ("TOGETHER_AI_API_BASE",),
            ),
            model_kind=image_models.by_name,
        ),
        ProviderSpec(
            "stability",
            stability.StabilityImages(),
            None,
            stability.credentials,
            stability.validate,
            credential_env=CredentialEnv(("STABILITY_API_KEY",), ("STABILITY_API_BASE",)),
        ),
        ProviderSpec(
            "fal_ai",
            fal.FalImages(),
            None,
            fal.credentials,
            fal.validate,
            environment=fal.ENVIRONMENT,
            # FAL_KEY_ID + FAL_KEY_SECRET also authenticate: fal.validate checks its key
            credential_env=CredentialEnv(
                ("FAL_AI_API_KEY", "FAL_KEY"), ("FAL_AI_API_BASE",), key_rule=KeyRule.NONE
            ),
        ),
    )
}
