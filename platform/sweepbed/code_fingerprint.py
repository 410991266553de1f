"""Which version of a family's code produced a sweep's results, so ``--resume`` never mixes versions.

Trial ids hash the family, config, budget and seed, not the code: after a change to a family's
arithmetic, resuming an old sweep directory would silently put old and new numbers in one leaderboard
(DomainBed has the same property). The sweep directory therefore keeps ``code.json``: the SHA-256 of
every ``trainables`` module the family imports (its model, data, metrics). ``--resume`` refuses a
directory whose fingerprint differs, naming the changed files, unless told ``--allow-code-change``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from trainables.registry import get_family

REPO_ROOT = Path(__file__).resolve().parents[2]
FILE_NAME = "code.json"


def family_fingerprint(family: str) -> dict[str, str]:
    """Repository-relative path -> SHA-256 of each ``trainables`` module loaded with the family."""
    get_family(family)  # imports the family module and, through it, every module it depends on
    hashes = {}
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not (name == "trainables" or name.startswith("trainables.")) or not path:
            continue
        path = Path(path).resolve()
        if path.suffix == ".py" and path.is_relative_to(REPO_ROOT):
            hashes[str(path.relative_to(REPO_ROOT))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def changed_files(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """Files whose content differs, or that one fingerprint has and the other lacks."""
    return sorted(p for p in recorded.keys() | current.keys() if recorded.get(p) != current.get(p))


def check_or_record(sweep_dir: Path, family: str, allow_change: bool) -> str | None:
    """Record the fingerprint of the code about to run; when the directory already holds results or
    checkpoints made by other code, return a one-line error instead (unless the change is allowed)."""
    current = family_fingerprint(family)
    sweep_dir = Path(sweep_dir)
    path = sweep_dir / FILE_NAME
    has_work = (sweep_dir / "trials.jsonl").exists() or any((sweep_dir / "checkpoints").glob("*.pt"))
    if path.exists() and has_work:
        recorded = json.loads(path.read_text())
        changed = changed_files(recorded, current)
        if changed and not allow_change:
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            return (f"{sweep_dir}: the {family} code changed since this sweep started ({shown}); resuming would "
                    f"mix results of two code versions. Use --out for a fresh sweep, or --allow-code-change "
                    f"if the change cannot alter results")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=1, sort_keys=True))
    return None
