"""The data layer: market table -> features and labels, all from the past only.

- ``market.load_market(cfg)``: the validated hourly table of any source (``synthetic``, ``csv``,
  ``parquet``, ``binance_btc`` via ``joined``); ``validate`` holds the rules and messages.
- ``synthetic.generate_market``: the embedded seeded market with its planted signal.
- ``features.build_features`` / ``labels.make_labels``: pure functions of the table.
- ``gaps``: segments, the gap report and the forward-fill policy.
- ``npz``: prepared splits with a JSON sidecar (``python -m trainer.write_splits``).
- ``windows``: sequence windows as views (the sequence learners' part).
"""
