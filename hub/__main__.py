"""`python -m hub ...` is the `sesshu` command."""

import signal

# A hub worker is started by a supervisor that passes SIGHUP on (reread the key ring);
# one that arrives while this process is still importing must not end it. The worker
# installs its own handler once it runs (hub/service.py).
signal.signal(signal.SIGHUP, signal.SIG_IGN)

from hub.cli import app  # noqa: E402 - after the signal, on purpose

app()
