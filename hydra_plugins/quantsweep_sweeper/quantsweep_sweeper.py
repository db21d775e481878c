"""The Hydra Sweeper class Hydra instantiates for ``hydra/sweeper: quantsweep_optuna``.

Kept short and light: Hydra imports this module on every start while it scans plugins, so the
implementation (Optuna, rich, the study logic) is imported only when a sweep is built.
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

import hydra_plugins.quantsweep_sweeper.config  # noqa: F401  (registers the schema)


class QuantsweepSweeper(Sweeper):
    def __init__(self, mode: str = "optuna", **kwargs: Any) -> None:
        self.sweeper: Sweeper
        if mode == "grid":
            # conf/train.yaml selects this sweeper for every search option (a config group
            # chosen by interpolation, search: ${model}, may not override hydra/sweeper itself),
            # so search=grid reaches Hydra's own grid sweeper through here.
            from hydra_plugins.quantsweep_sweeper._internals import basic_sweeper

            self.sweeper = basic_sweeper()
            return
        if mode != "optuna":
            from hydra_plugins.quantsweep_sweeper.link import UserError

            raise UserError(f"hydra.sweeper.mode={mode!r}: must be optuna or grid")
        from hydra_plugins.quantsweep_sweeper._impl import QuantsweepSweeperImpl
        from hydra_plugins.quantsweep_sweeper.config import QuantsweepOptunaConf

        self.sweeper = QuantsweepSweeperImpl(QuantsweepOptunaConf(mode=mode, **kwargs))

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self.sweeper.sweep(arguments)
