"""A saved run's config with overrides: built from the schemas and option files directly (what
an hourly ``predict`` uses), it equals Hydra's own composition for every group switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

import trainer.run_config as run_config
from trainer.config import to_dict
from trainer.errors import UserError


@pytest.fixture
def saved(tmp_path: Path, compose_cfg: object) -> Path:
    cfg = compose_cfg("model=lstm", "data.start=2022-09-01", tiny=False)  # type: ignore[operator]
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(cfg, tmp_path / ".hydra" / "config.yaml")
    return tmp_path


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["data=csv", "data.path=x.csv"],
        ["data=binance_btc", "data.root=/d"],
        ["data=synthetic"],  # the same option: its defaults again, as Hydra does
        ["model=xgboost", "model.max_depth=3"],
        ["model=ensemble"],
        ["split=walk_forward", "hardware=cpu"],
        ["features=default", "features.calendar=false"],
        ["data.end=2023-01-31", "seed=3", "costs.allow_short=true"],
    ],
)
def test_the_typed_path_composes_like_hydra(
    saved: Path, overrides: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = to_dict(run_config.compose_run_config(saved, overrides))
    monkeypatch.setattr(run_config, "_plain", lambda switches: False)
    assert fast == to_dict(run_config.compose_run_config(saved, overrides))


def test_plain_override_values_are_typed_like_hydras() -> None:
    switches, keys = run_config.parse_overrides(
        ["data=csv", "a.b=3", "a.c=0.5", "a.d=null", "a.e=2025-01-31", "a.f=yes", "a.g=[1,2]"]
    )
    assert switches == {"data": "csv"}
    assert keys == [
        ("a.b", 3),
        ("a.c", 0.5),
        ("a.d", None),
        ("a.e", "2025-01-31"),
        ("a.f", "yes"),
        ("a.g", [1, 2]),
    ]
    with pytest.raises(UserError, match="only key=value"):
        run_config.parse_overrides(["a.b=1,2"])
