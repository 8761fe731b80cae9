"""What every adapter shares: its link to the hub over FastStream.

`Bridge.publish` signs an envelope and publishes it to the ingress exchange with
confirms and `mandatory` (an unroutable or unconfirmed publish raises). `Bridge.subscribe`
consumes the adapter's own queue, verifies each delivery's original signature
(`deliveries`), and runs the handler inside the adapter inbox's transaction, so a
redelivery is a no-op. The handlers are built from `handlers` (dispatch by kind and
sender, stable reply ids) and open what is sealed to them with `sealed`; what they and the
edges did is counted with `counts`.
"""

from adapters.kit.bridge import Bridge, make_broker
from adapters.kit.handlers import Handler

__all__ = ["Bridge", "Handler", "make_broker"]
