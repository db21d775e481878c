"""``python -m evaluation.campaign compare='[REPORT,...]'``: the leaderboard of reports already
on disk, refused when their walk-forward hours or costs differ; no study, no evaluation."""

from __future__ import annotations

from pathlib import Path

from evaluation.campaign import board, render
from evaluation.campaign.config import CampaignRunConfig
from evaluation.campaign.leaderboard import Report, load_report
from evaluation.campaign.run import EXIT_OK, TRACKING_EXPERIMENT, track
from trainer.errors import UserError
from trainer.tracking import open_tracker


def compare(conf: CampaignRunConfig) -> int:
    """A leaderboard of reports already on disk: no study, no evaluation."""
    assert conf.compare is not None
    if not conf.compare:
        raise UserError("compare=[]: name at least one report directory")
    tracker = open_tracker(conf.tracking, conf.artifacts_dir, experiment=TRACKING_EXPERIMENT)
    reports: list[Report] = [load_report(Path(p), "compare") for p in conf.compare]
    entries = [
        board.Entry(str(r.data.get("name") or r.path.name), "study" if r.study else "report", r)
        for r in reports
    ]
    name = conf.name or "compare"
    data = board.build(
        name,
        entries,
        conf.campaign.sort_by,
        conf.campaign.top_n,
        "compare",
        {"campaign": None, "reports": [str(r.path) for r in reports]},
    )
    board_dir = Path(conf.artifacts_dir) / "campaigns" / name
    render.write(data, board_dir)
    track(tracker, board_dir, data)
    if conf.progress:
        from evaluation.campaign.console import print_board

        print_board(data, board_dir, f"compare: {len(reports)} reports")
    return EXIT_OK
