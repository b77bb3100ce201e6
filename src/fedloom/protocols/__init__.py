"""Reusable multi-party steps: private set intersection (:mod:`fedloom.protocols.psi`)."""
