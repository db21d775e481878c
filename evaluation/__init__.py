"""``python -m evaluation``: decide whether a trained model may trade.

    __main__.py     the Hydra entrypoint (conf/evaluation.yaml); thin
    cli.py          config -> exit code; routes bare run overrides into ``overrides``
    source.py       the evaluated run and its composed config with overrides
    evaluate.py     walk-forward -> backtests -> stress -> overfitting -> guardrails
    walk_forward.py quarterly folds (trainer.splits), one fit per fold, stitched tests
    stress.py       crisis windows, each with a model trained before it
    strategies.py   1h, 4h, 1h+4h, buy-and-hold and baseline positions
    backtest.py     vectorised backtests (pure)
    guardrails.py   the checks that gate promotion (pure)
    overfitting.py  deflated Sharpe ratio and PBO by CSCV (pure)
    study.py        a study's trials replayed for DSR and PBO
    promote.py      atomic copy to artifacts/promoted/<target>/
    manifest.py     reproducibility manifest and ``verify=PATH``
    report.py       evaluation.json, report.md, report.html, series.parquet
    figures.py      PNG figures; console.py the terminal summary

Imports go one way: evaluation uses trainer; trainer never imports evaluation.
"""
