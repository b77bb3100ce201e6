"""Per-party round checkpoints of a federated recipe run, so ``--resume`` continues a killed run.

Every party of ``fedloom nn train RECIPE --federated`` writes, after each completed round ``r``,
``{folder}/{party}.round{r}.pt`` (``party`` as ``role-id``) with what it needs to go on from round
``r + 1`` exactly as if it had never stopped:

* a client: its model's state after round ``r`` (the global weights), its local optimiser's and
  learning-rate schedule's state (momenta persist across rounds), the torch random state
  (dropout draws), its history rows and, for client 0, the test rows;
* the arbiter: the global weights and loss of round ``r`` (the early-stop rule's state) and its
  history rows.

Each file is written to a temporary name and renamed (a kill never leaves half a checkpoint), and
a party keeps its last :data:`KEEP` rounds: the parties finish a round within moments of each
other, so a kill can leave some of them one round ahead, never two. :func:`common_round` is the
newest round every party has; :func:`fedloom.runner.nn_federated.run_federated_recipe` resumes all
of them from it. Files are loaded with ``torch.load(weights_only=True)``: only tensors and plain
containers; each party reads only its own files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from fedloom.core.errors import ConfigError

__all__ = ["KEEP", "common_round", "load_round", "party_file_name", "rounds_saved", "save_round"]

#: Rounds each party keeps.
KEEP = 2
_NAME = re.compile(r"^(?P<party>[a-z]+-\d+)\.round(?P<round>\d+)\.pt$")


def party_file_name(party: str) -> str:
    """``guest:9999`` → ``guest-9999`` (file names avoid ``:``)."""
    return party.replace(":", "-")


def save_round(folder: str | Path, party: str, round_index: int, state: dict[str, Any]) -> Path:
    """Write ``state`` as ``party``'s checkpoint of ``round_index``; drop its older rounds."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = party_file_name(party)
    path = folder / f"{name}.round{round_index}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save({"round": round_index, **state}, tmp)
    os.replace(tmp, path)
    for old in rounds_saved(folder, party)[:-KEEP]:
        (folder / f"{name}.round{old}.pt").unlink(missing_ok=True)
    return path


def rounds_saved(folder: str | Path, party: str) -> list[int]:
    """The rounds ``party`` has a checkpoint of, ascending."""
    folder, name = Path(folder), party_file_name(party)
    if not folder.is_dir():
        return []
    found = (_NAME.match(p.name) for p in folder.iterdir())
    return sorted(int(m["round"]) for m in found if m is not None and m["party"] == name)


def common_round(folder: str | Path, parties: list[str]) -> int | None:
    """The newest round every party has a checkpoint of, or ``None`` (start from round 0)."""
    shared: set[int] | None = None
    for party in parties:
        mine = set(rounds_saved(folder, party))
        shared = mine if shared is None else shared & mine
    return max(shared) if shared else None


def load_round(folder: str | Path, party: str, round_index: int) -> dict[str, Any]:
    """``party``'s checkpoint of ``round_index``.

    Raises
    ------
    ConfigError
        The file is missing or unreadable (names it).
    """
    path = Path(folder) / f"{party_file_name(party)}.round{round_index}.pt"
    try:
        state = torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise ConfigError(
            f"no checkpoint of round {round_index} for {party} ({path})", field="--resume"
        ) from None
    except Exception as exc:  # a torn or foreign file: say which, never unpickle more
        raise ConfigError(f"cannot read the checkpoint {path}: {exc}", field="--resume") from None
    if not isinstance(state, dict) or state.get("round") != round_index:
        raise ConfigError(f"{path} is not a round-{round_index} checkpoint", field="--resume")
    return state
