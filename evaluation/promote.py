"""Promotion: copy a run that passed every guardrail to ``artifacts/promoted/<target>/``.

Called by ``python -m evaluation`` only when all guardrails of the run's own strategy pass.
The new tree (the run's model/, metadata, metrics, .hydra/ and a manifest.json) is completed
in a sibling directory first and then swapped in with one ``os.replace`` of a symlink
(``trainer.artifacts.publish_dir``), so a kill at any moment leaves the previous promoted
model intact and loadable.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from trainer.artifacts import publish_dir

MANIFEST_FILE = "manifest.json"
COPIED = ("model", ".hydra", "metadata.json", "metrics.json")


def promote(run_dir: Path, promoted_root: Path, target: str, manifest: dict[str, Any]) -> Path:
    """Publish ``run_dir`` with ``manifest`` as ``promoted_root/target``; returns that path."""
    dest = promoted_root / target
    promoted_root.mkdir(parents=True, exist_ok=True)
    # Staged beside the destination (same filesystem), then published with an atomic swap.
    with tempfile.TemporaryDirectory(dir=promoted_root, prefix=f".{target}.stage-") as tmp:
        stage = Path(tmp) / target
        stage.mkdir()
        for name in COPIED:
            src = run_dir / name
            if src.is_dir():
                shutil.copytree(src, stage / name)
            elif src.is_file():
                shutil.copy2(src, stage / name)
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
        (stage / MANIFEST_FILE).write_text(text)
        publish_dir(stage, dest)
    return dest
