"""Federated algorithms: ``hetero`` (vertically split data) and ``homo`` (horizontally split)."""
