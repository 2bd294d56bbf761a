"""The server under the application, and nobody else's business: the ASGI front door
(``front``), the HTTP/1.1 connection's limits (``http``), event-loop pacing (``pacing``) and
heap settling at start-up (``heap``). The request path knows pacing only through
``proxy.pacing.Pacer``; ``proxy.app`` hands the one ``LoopPacer`` to the stages that take turns
or defer bookkeeping."""
