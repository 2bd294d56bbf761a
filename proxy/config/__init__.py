"""The YAML configuration: its types here, its loader in ``proxy.config.loader``.

Lowest first: ``errors`` (``ConfigError``, ``format_path``), ``deployment`` (``Deployment``,
``LiteLLMParams``, ``ModelInfo``), ``delivery`` (``general_settings.image_store`` /
``image_fetch``), ``settings`` (``general_settings``, ``router_settings``, ``ProxyConfig``),
then ``loader`` (``read_config``), which this package does not import: naming a type loads
no YAML parser. Nothing in the package imports a provider or a feature: what the loader
checks with their knowledge comes in as ``Checks``, composed by ``proxy.configure``, whose
``load_config`` / ``parse_config`` are the entry points.
"""

from proxy.config.delivery import ImageFetchSettings, ImageStoreSettings
from proxy.config.deployment import Deployment, LiteLLMParams, ModelInfo, Section
from proxy.config.errors import ConfigError, format_path
from proxy.config.settings import (
    DEFAULT_REQUEST_DEADLINE,
    ROUTING_STRATEGIES,
    STRATEGY_ALIASES,
    GeneralSettings,
    ProxyConfig,
    RouterSettings,
    RoutingStrategyArgs,
)

__all__ = [
    "DEFAULT_REQUEST_DEADLINE",
    "ROUTING_STRATEGIES",
    "STRATEGY_ALIASES",
    "ConfigError",
    "Deployment",
    "GeneralSettings",
    "ImageFetchSettings",
    "ImageStoreSettings",
    "LiteLLMParams",
    "ModelInfo",
    "ProxyConfig",
    "RouterSettings",
    "RoutingStrategyArgs",
    "Section",
    "format_path",
]
