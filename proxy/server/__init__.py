"""What makes the gateway fast and is nobody else's business: event-loop pacing
(``pacing``) and heap settling at start-up (``heap``). The request path knows pacing only
through ``proxy.pacing.Pacer``; ``proxy.app`` hands the one ``LoopPacer`` to the stages that
take turns or defer bookkeeping."""
