"""The running system: wires each adapter to its own database, keys and edge folders, and
starts the hub, the desk and the adapters as processes (`sesshu stack`).

The one package allowed to import both `hub` and `adapters`: it is the composition root.
"""
