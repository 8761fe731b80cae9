"""Routing policy: pure decisions over envelopes; imports only `contracts`."""
