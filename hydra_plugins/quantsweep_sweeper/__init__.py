"""quantsweep's Optuna sweeper for Hydra: ``python -m trainer model=<family> -m``.

Keeps hydra-optuna-sweeper's config grammar on a current Optuna and adds pruning (each job
reaches its trial through ``trial.*`` overrides), resumable studies, parallel workers without a
batch barrier, the best run checkpointed and a study report. Hydra finds it by scanning the
``hydra_plugins`` namespace; only ``config.py``, ``link.py`` and ``quantsweep_sweeper.py`` are
imported by that scan, the rest (``_*.py``) when a sweep starts.
"""
