"""quantsweep trainer: `python -m trainer` composes a run from conf/ and trains one learner."""

__version__ = "0.1.0"
