"""The hub: workers that verify, validate, dedupe, journal and route envelopes."""
