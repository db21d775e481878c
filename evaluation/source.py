"""What ``python -m evaluation run=PATH`` evaluates: a run directory, a study's ``best/`` or a
promoted model, and the run's composed config with the user's overrides applied.

The stored ``.hydra/config.yaml`` is the base, so a run is re-evaluated exactly as it was
trained even if conf/ has changed since. A group override (``data=csv``) swaps that group's
node for the option's defaults; key overrides (``model.max_depth=3``) are applied last and
checked against the schemas like any training config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from trainer.artifacts import CONFIG_FILE, METADATA_FILE, METRICS_FILE, load_run
from trainer.config import TrainConfig, TrialConfig, register, validate
from trainer.errors import UserError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ("model", "data", "features", "split", "hardware", "strategy")
MANIFEST_FILE = "manifest.json"
STUDY_MARKERS = ("summary.json", "journal.log", "best.json")  # the sweeper's study folder
_MISSING = object()


@dataclass(frozen=True)
class Source:
    path: Path  # the directory holding model/, metadata.json, metrics.json and .hydra/
    kind: str  # run | study_best | promoted
    study_dir: Path | None  # the study a best/ belongs to
    metadata: dict[str, Any]
    metrics: dict[str, Any]
    config: TrainConfig  # the run's config with the overrides applied
    overrides: list[str]

    @property
    def target(self) -> str:
        """Promotion target, e.g. ``1h_direction``."""
        return f"{self.config.target.horizon}_{self.config.target.task}"


def open_source(path: str, overrides: list[str]) -> Source:
    root = Path(path)
    if not root.is_dir():
        raise UserError(
            f"run={path}: no such directory (a run, a study's best/ or a promoted model)"
        )
    missing = [f for f in (CONFIG_FILE, METADATA_FILE, METRICS_FILE) if not (root / f).is_file()]
    if missing:
        raise UserError(
            f"run={path}: not a quantsweep run directory ({', '.join(missing)} missing); pass a"
            " run directory under outputs/, a study's best/ or artifacts/promoted/<target>"
        )
    # The saved artifact must load (format version, metadata keys, model files and their
    # checksums) before any work: a truncated or tampered model is never evaluated or promoted.
    load_run(root)
    metadata = _read_json(root / METADATA_FILE)
    metrics = _read_json(root / METRICS_FILE)
    config = compose_run_config(root, overrides)
    kind, study = "run", None
    if (root / MANIFEST_FILE).is_file():
        kind = "promoted"
    elif any((root.parent / m).exists() for m in STUDY_MARKERS) or root.name == "best":
        kind, study = "study_best", root.parent
    return Source(root, kind, study, metadata, metrics, config, list(overrides))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except ValueError:
        raise UserError(f"{path}: not valid JSON (truncated or tampered)") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def compose_run_config(run_dir: Path, overrides: list[str]) -> TrainConfig:
    """The run's stored config, with group and key overrides, validated."""
    stored = OmegaConf.load(run_dir / CONFIG_FILE)
    if not isinstance(stored, DictConfig):
        raise UserError(f"{run_dir / CONFIG_FILE}: not a mapping")
    choices = _choices(run_dir, stored)
    switches, keys = _parse(overrides)
    unknown = [g for g in switches if g not in GROUPS]
    if unknown:
        raise UserError(
            f"override {unknown[0]}={switches[unknown[0]]}: not a config group of a run"
            f" (groups: {', '.join(GROUPS)})"
        )
    for group, option in switches.items():
        options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        if option not in options:
            raise UserError(
                f"override {group}={option}: no such option (one of {', '.join(options)})"
            )
    choices.update(switches)
    base = _compose_train([f"{g}={c}" for g, c in choices.items()])
    for group in switches:  # the stored node belongs to the option that was swapped out
        stored.pop(group, None)
    for extra in ("search", "hydra"):
        stored.pop(extra, None)
    try:
        merged = OmegaConf.merge(base, stored)
        for key, value in keys:
            if not _has_key(merged, key):
                raise UserError(f"override {key}: no such key in the run's config")
            OmegaConf.update(merged, key, value, merge=False)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or ""
        msg = str(exc).splitlines()[0]
        raise UserError(f"run config key '{key}': {msg}" if key else f"run config: {msg}") from None
    if not isinstance(merged, DictConfig):
        raise UserError(f"{run_dir / CONFIG_FILE}: not a mapping")
    # Evaluation retrains outside any study: the trial link of a study's job must not follow.
    return replace(validate(merged), trial=TrialConfig())


def _has_key(cfg: DictConfig | ListConfig, key: str) -> bool:
    """``key`` exists, a mandatory ``???`` one included (``select`` and ``in`` say it is not)."""
    if OmegaConf.select(cfg, key, default=_MISSING) is not _MISSING:
        return True
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    return isinstance(parent, DictConfig) and leaf in list(parent)


def _choices(run_dir: Path, stored: DictConfig) -> dict[str, str]:
    """The group options the run was composed from (Hydra records them in hydra.yaml)."""
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    recorded: dict[str, Any] = {}
    if hydra_yaml.is_file():
        node = OmegaConf.select(OmegaConf.load(hydra_yaml), "hydra.runtime.choices")
        container = OmegaConf.to_container(node) if node is not None else None
        if isinstance(container, dict):
            recorded = {str(k): v for k, v in container.items()}
    out: dict[str, str] = {}
    fallback = {
        "model": OmegaConf.select(stored, "model.name"),
        "data": OmegaConf.select(stored, "data.source"),
        "features": "default",
        "split": OmegaConf.select(stored, "split.name"),
        "hardware": OmegaConf.select(stored, "hardware.name"),
        "strategy": OmegaConf.select(stored, "strategy.name") or "threshold",
    }
    for group in GROUPS:
        choice = recorded.get(group) or fallback[group]
        if choice:
            out[group] = str(choice)
    return out


def _parse(overrides: list[str]) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    """(group switches, key overrides) from Hydra-grammar override strings."""
    parser = OverridesParser.create()
    switches: dict[str, str] = {}
    keys: list[tuple[str, Any]] = []
    for text in overrides:
        try:
            ov = parser.parse_override(text)
        except Exception as exc:  # hydra's OverrideParseException, with a multi-line message
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(f"override {text!r}: {first}") from None
        if ov.is_delete() or ov.is_add() or ov.is_sweep_override():
            raise UserError(f"override {text!r}: only key=value and group=option are allowed")
        key = ov.key_or_group
        value = ov.value()
        if "." not in key and key in GROUPS and isinstance(value, str):
            switches[key] = value
        else:
            keys.append((key, value))
    return switches, keys


def _compose_train(overrides: list[str]) -> DictConfig:
    register()
    if GlobalHydra.instance().is_initialized():  # inside python -m evaluation: same conf/
        return compose("train", overrides=overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)
