"""The Vaccination Record System's adapter (VRS): certificates as SMART Health Cards."""
