"""Deep-learning models, datasets and the local trainer (DESIGN.md §6).

Import the submodule you need (``fedloom.models.mlp``, ``fedloom.models.train``,
``fedloom.models.tiny_gpt``, ``fedloom.models.bert``, ...). torch and transformers are only
imported by those submodules, so ``import fedloom.models`` stays light.
"""
