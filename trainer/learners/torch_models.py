"""The two sequence networks, LSTM and Transformer, as plain ``torch.nn`` modules.

Built by ``trainer.learners.sequence`` (``python -m trainer model=lstm|transformer``). Each maps
a batch of windows (batch, seq, n_features) to one output per window (batch,): a logit of
P(up) for direction, a standardised forward return for regression. Only the last hour's state
is read, so every hour of the window is past and no causal mask is needed.
"""

from __future__ import annotations

import torch
from torch import nn


class InputNorm(nn.Module):
    """Per-feature normalisation of the inputs, one of two kinds.

    - ``zscore``: (x - mean) / std with statistics of the training windows' rows, kept as
      buffers set from the saved statistics at load time and reused at predict time;
    - ``layernorm``: a learned LayerNorm across the features of each hour.
    """

    mean: torch.Tensor  # (F,) buffers of the zscore kind
    std: torch.Tensor

    def __init__(self, n_features: int, kind: str) -> None:
        super().__init__()
        self.kind = kind
        if kind == "zscore":
            # not persistent: the statistics live in the model's JSON, readable and single
            self.register_buffer("mean", torch.zeros(n_features), persistent=False)
            self.register_buffer("std", torch.ones(n_features), persistent=False)
        else:
            self.ln = nn.LayerNorm(n_features)

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        if self.kind == "zscore":
            self.mean.copy_(mean)
            self.std.copy_(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, F) -> (B, L, F)
        if self.kind == "zscore":
            return (x - self.mean) / self.std
        out: torch.Tensor = self.ln(x)
        return out


class LSTMNet(nn.Module):
    def __init__(
        self, n_features: int, hidden_dim: int, num_layers: int, dropout: float, input_norm: str
    ) -> None:
        super().__init__()
        self.norm = InputNorm(n_features, input_norm)
        # torch applies dropout between stacked layers only; it warns when there is one layer
        self.lstm = nn.LSTM(
            n_features,
            hidden_dim,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)  # (B, L, F)
        out, _ = self.lstm(x)  # (B, L, H)
        last = self.drop(out[:, -1])  # (B, H): the state after the window's last hour
        y: torch.Tensor = self.head(last).squeeze(-1)  # (B,)
        return y


class TransformerNet(nn.Module):
    """A pre-norm encoder (as in GPT-2/nanoGPT) over the hours of a window."""

    def __init__(
        self,
        n_features: int,
        sequence_len: int,
        d_model: int,
        num_heads: int,
        num_layers: int,
        feedforward_dim: int,
        dropout: float,
        input_norm: str,
    ) -> None:
        super().__init__()
        self.norm = InputNorm(n_features, input_norm)
        self.embed = nn.Linear(n_features, d_model)
        # learned positions: windows have a fixed length, so no need for a sinusoidal table
        self.pos = nn.Parameter(torch.zeros(sequence_len, d_model))
        nn.init.normal_(self.pos, std=0.02)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model,
            num_heads,
            dim_feedforward=feedforward_dim,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,  # pre-norm trains stably without a warm-up schedule
        )
        # nested tensors only help with padding masks, which fixed windows never have
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.shape[1]
        x = self.norm(x)  # (B, L, F)
        h = self.drop(self.embed(x) + self.pos[:seq])  # (B, L, D)
        h = self.encoder(h)  # (B, L, D)
        last = self.ln_f(h[:, -1])  # (B, D): the last hour attends to the whole window
        y: torch.Tensor = self.head(last).squeeze(-1)  # (B,)
        return y
