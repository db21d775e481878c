"""A saved run's composed config with a user's overrides applied: shared by
``python -m evaluation`` (its ``run=`` and ``forward=``) and ``python -m trainer.predict``.

The stored ``.hydra/config.yaml`` is the base, so a run is re-used exactly as it was trained
even if conf/ has changed since. A group override (``data=csv``) swaps that group's node for
the option's defaults (composed by Hydra); key overrides (``data.root=D``) are applied last and
checked against the schemas like any training config. Without a group override no Hydra
composition is needed: the stored config is merged onto its typed schemas directly (fast; what
an hourly ``predict`` call takes).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from trainer.config import CONF_DIR, TrainConfig, TrialConfig, validate
from trainer.errors import UserError
from trainer.tracking import TrackingConfig

CONFIG_FILE = ".hydra/config.yaml"
HYDRA_FILE = ".hydra/hydra.yaml"
GROUPS = ("model", "data", "features", "split", "hardware", "strategy")
_MISSING = object()


def compose_run_config(
    run_dir: Path,
    overrides: list[str],
    stored_text: str | None = None,
    hydra_text: str | None = None,
) -> TrainConfig:
    """The run's stored config, with group and key overrides, validated.

    ``stored_text``/``hydra_text``: the contents of ``.hydra/config.yaml``/``hydra.yaml`` as
    already read (an evaluation reads a run once; a later edit must not reach it).
    """
    stored = _load_yaml(run_dir / CONFIG_FILE, stored_text)
    if not isinstance(stored, DictConfig):
        raise UserError(f"{run_dir / CONFIG_FILE}: not a mapping")
    choices = _choices(run_dir, stored, hydra_text)
    switches, keys = parse_overrides(overrides)
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
    for group in switches:  # the stored node belongs to the option that was swapped out
        stored.pop(group, None)
    for extra in ("search", "hydra"):
        stored.pop(extra, None)
    try:
        base = _typed_base(stored, switches) if _plain(switches) else _compose_train(choices)
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
    # Re-used outside any study and untracked: the trial link and the tracking of a study's
    # job must not follow (an evaluation logs its report itself).
    return replace(validate(merged), trial=TrialConfig(), tracking=TrackingConfig())


def _load_yaml(path: Path, text: str | None) -> Any:
    if text is None:
        if not path.is_file():
            raise UserError(f"{path}: missing composed config of the run")
        text = path.read_text()
    try:
        return OmegaConf.create(text)
    except Exception as exc:  # yaml or omegaconf errors: one line naming the file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: not a readable config ({first})") from None


def _schema(group: str, option: str) -> Any:
    """The schema class an option of ``group`` extends (None: not one this version has)."""
    from trainer.config import (
        DATA_SCHEMAS,
        MODEL_SCHEMAS,
        HardwareConfig,
        SplitConfig,
        StrategyConfig,
    )
    from trainer.data.config import FeaturesConfig

    by_group: dict[str, Any] = {
        "model": MODEL_SCHEMAS.get(option),
        "data": DATA_SCHEMAS.get(option),
        "split": SplitConfig,
        "hardware": HardwareConfig,
        "features": FeaturesConfig,
        "strategy": StrategyConfig,
    }
    return by_group.get(group)


def _plain(switches: dict[str, str]) -> bool:
    """Every switched option is a schema plus values (``defaults: [schema, _self_]``), so its
    node can be built without Hydra's composition."""
    for group, option in switches.items():
        if _schema(group, option) is None:
            return False
        node = OmegaConf.create((CONF_DIR / group / f"{option}.yaml").read_text())
        defaults = node.get("defaults") if isinstance(node, DictConfig) else None
        expected = [f"{_schema_ref(group, option)}@_here_", "_self_"]
        if defaults is None or list(defaults) != expected:
            return False
    return True


def _schema_ref(group: str, option: str) -> str:
    """The ConfigStore name an option's defaults list extends (see ``trainer.config``)."""
    return f"/schema_{group}_{option}" if group in ("model", "data") else f"/schema_{group}"


def _typed_base(stored: DictConfig, switches: dict[str, str]) -> DictConfig:
    """What Hydra composition starts from: the schemas of the run's own options, and the
    option's values for each switched group."""
    model = str(OmegaConf.select(stored, "model.name", default=""))
    source = str(OmegaConf.select(stored, "data.source", default=""))
    options = {g: "" for g in GROUPS} | {"model": model, "data": source}
    base = OmegaConf.structured(TrainConfig)
    for group in GROUPS:
        option = switches.get(group, options[group])
        schema = _schema(group, option)
        if schema is None:
            key = "model.name" if group == "model" else "data.source"
            raise UserError(f"run config key '{key}': {option!r} is not one this version has")
        node = OmegaConf.structured(schema)
        if group in switches:
            values = OmegaConf.create((CONF_DIR / group / f"{option}.yaml").read_text())
            if isinstance(values, DictConfig):
                values.pop("defaults", None)
            node = OmegaConf.merge(node, values)
        base[group] = node
    return base


def _has_key(cfg: DictConfig | ListConfig, key: str) -> bool:
    """``key`` exists, a mandatory ``???`` one included (``select`` and ``in`` say it is not)."""
    if OmegaConf.select(cfg, key, default=_MISSING) is not _MISSING:
        return True
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    return isinstance(parent, DictConfig) and leaf in list(parent)


def _choices(run_dir: Path, stored: DictConfig, hydra_text: str | None) -> dict[str, str]:
    """The group options the run was composed from (Hydra records them in hydra.yaml)."""
    recorded: dict[str, Any] = {}
    hydra_yaml = run_dir / HYDRA_FILE
    if hydra_text is None and hydra_yaml.is_file():
        hydra_text = hydra_yaml.read_text()
    if hydra_text is not None:
        node = OmegaConf.select(OmegaConf.create(hydra_text), "hydra.runtime.choices")
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


# key=value with a plain value (no list, dict, quote, sweep or function): parsed without Hydra's
# grammar (whose parser costs an hourly `predict` more than the rest of its own imports).
_PLAIN = re.compile(r"^([A-Za-z_][\w.-]*)=([^\s\[\]{}(),'\"\\*?$=:]+)$")
_YAML_WORDS = {"yes", "no", "on", "off", "y", "n"}  # YAML 1.1 booleans; Hydra reads text


def parse_overrides(overrides: list[str]) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    """(group switches, key overrides) from Hydra-grammar override strings."""
    switches: dict[str, str] = {}
    keys: list[tuple[str, Any]] = []
    for text in overrides:
        key, value = _parse_one(text)
        if "." not in key and key in GROUPS and isinstance(value, str):
            switches[key] = value
        else:
            keys.append((key, value))
    return switches, keys


def _parse_one(text: str) -> tuple[str, Any]:
    plain = _PLAIN.match(text)
    if plain is not None and plain.group(2).lower() not in _YAML_WORDS:
        # The value typed as YAML, like Hydra's (1 -> int, null -> None, dates stay text).
        return plain.group(1), OmegaConf.from_dotlist([f"v={plain.group(2)}"])["v"]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        ov = OverridesParser.create().parse_override(text)
    except Exception as exc:  # hydra's OverrideParseException, with a multi-line message
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"override {text!r}: {first}") from None
    if ov.is_delete() or ov.is_add() or ov.is_sweep_override():
        raise UserError(f"override {text!r}: only key=value and group=option are allowed")
    return ov.key_or_group, ov.value()


def _compose_train(choices: dict[str, str]) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from trainer.config import register

    register()
    overrides = [f"{g}={c}" for g, c in choices.items()]
    if GlobalHydra.instance().is_initialized():  # inside a Hydra app: same conf/
        return compose("train", overrides=overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)
