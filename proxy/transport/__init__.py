"""Sending upstream requests: every transport is a ``Sender``.

``Transport`` is the network (aiohttp, ``network``), ``MockTransport`` an in-process handler
(``in_process``), ``Transports`` the router by URL scheme the gateway is composed with
(``schemes``). A transport knows no provider.
"""

from proxy.transport.in_process import MockTransport
from proxy.transport.network import Transport
from proxy.transport.schemes import Transports
from proxy.transport.stream import Sender, UpstreamStream, event_too_large, full_url

__all__ = [
    "MockTransport",
    "Sender",
    "Transport",
    "Transports",
    "UpstreamStream",
    "event_too_large",
    "full_url",
]
