"""``python -m evaluation.campaign``: the Phase 2 plan (conf/campaign/phase2.yaml) in one
resumable command, from every family's study to a sign-off leaderboard.

    python -m evaluation.campaign [campaign=phase2] [campaign.budget=20] [data=binance_btc ...]
    python -m evaluation.campaign compare='[artifacts/reports/a,artifacts/reports/b]'

Modules: config (schemas), plan (the plan resolved and checked), resume (what a re-run reuses),
steps (child processes), run (the loop), leaderboard and board (rows), render and console
(files and terminal). See docs/campaign.md.
"""
