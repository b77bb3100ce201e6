"""Algorithms for vertically split data: one package per algorithm, one class per role."""
