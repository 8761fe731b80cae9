"""What every adapter shares: its link to the hub over FastStream.

`Bridge.publish` signs an envelope and publishes it to the ingress exchange with
confirms and `mandatory` (an unroutable or unconfirmed publish raises). `Bridge.subscribe`
consumes the adapter's own queue, verifies each delivery's original signature, and runs
the handler inside the adapter inbox's transaction, so a redelivery is a no-op.
"""

from adapters.kit.bridge import Bridge, Handler, make_broker

__all__ = ["Bridge", "Handler", "make_broker"]
