"""Adapters for the five systems: each an edge, a bridge and a simulator (design.md)."""
