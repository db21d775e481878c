"""LSTM and Transformer learners over windows of the last ``model.sequence_len`` hours.

Built by the registry in ``trainer.learners`` for ``python -m trainer model=lstm`` and
``model=transformer``; the only module (with ``torch_models``) that imports torch, so a tree run
never loads it.

One epoch: shuffle the valid training window ends (a seeded ``torch.Generator``), gather each
batch of windows from the part's matrix (one batch, or ``model.micro_batch_size`` windows, at a
time; never every window), take an AdamW step; then score the validation part, report the
objective to the trial (which may prune) and keep the best weights; stop after
``model.patience`` epochs without improvement.
"""

from __future__ import annotations

import json
import math
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from trainer.console import ProgressBar
from trainer.data.windows import longest_run, valid_window_ends, window_rows
from trainer.errors import UserError
from trainer.hardware import cpu_count, seed_everything
from trainer.learners.base import FitContext, Reporter, SplitData
from trainer.learners.config import LSTMConfig, SequenceConfig, TransformerConfig
from trainer.learners.torch_models import InputNorm, LSTMNet, TransformerNet

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "sequence.json"
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def configure_torch(ctx: FitContext) -> None:
    """Threads, TF32 and cuDNN autotuning from the resolved hardware (process-wide settings)."""
    torch.set_num_threads(ctx.threads)
    if ctx.device == "cuda":
        # torch >= 2.9 API; mixing it with the legacy allow_tf32 flags is an error
        fp32 = "tf32" if ctx.tf32 else "ieee"
        torch.backends.cuda.matmul.fp32_precision = fp32
        torch.backends.cudnn.conv.fp32_precision = fp32  # type: ignore[attr-defined]
        torch.backends.cudnn.rnn.fp32_precision = fp32  # type: ignore[attr-defined]
        torch.backends.cudnn.benchmark = ctx.cudnn_benchmark


def feature_stats(X: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of the training rows, (n_features,) each; std 1 if constant.

    Two passes over row chunks: ``X.std()`` would allocate a float64 copy of the whole part.
    """
    n = max(1, X.shape[0])
    mean = np.zeros(X.shape[1])
    for i in range(0, X.shape[0], chunk):
        mean += X[i : i + chunk].sum(axis=0, dtype=np.float64)
    mean /= n
    var = np.zeros(X.shape[1])
    for i in range(0, X.shape[0], chunk):
        var += ((X[i : i + chunk] - mean) ** 2).sum(axis=0)
    std = np.sqrt(var / n)
    return mean, np.where(std > 1e-12, std, 1.0)


def _target_stats(y: np.ndarray, task: str) -> tuple[float, float]:
    """(mean, std) that standardise the loss's targets: hourly log returns (std ~1e-2) only."""
    if task != "regression":
        return 0.0, 1.0
    y64 = np.asarray(y, dtype=np.float64)
    return float(y64.mean()), float(y64.std()) or 1.0


def _compact(ends: np.ndarray) -> np.ndarray:
    """Window ends as a contiguous array, int32 when every row index fits (half of int64)."""
    dtype = np.int32 if ends.size == 0 or int(ends[-1]) < 2**31 else np.int64
    return np.ascontiguousarray(ends, dtype=dtype)


def _windows_needed(part: str, data: SplitData, length: int) -> np.ndarray:
    ends = valid_window_ends(data.segment, length)
    if ends.size == 0:
        raise UserError(
            f"model.sequence_len={length}: the {part} part has no run of {length} consecutive"
            f" hours (its longest is {longest_run(data.segment)}); use a shorter"
            " model.sequence_len or more data"
        )
    return ends


class _SequenceLearner:
    """What the LSTM and Transformer learners share: everything but building the network."""

    name: ClassVar[str]
    config_class: ClassVar[type[SequenceConfig]]

    def __init__(self, params: SequenceConfig, context: FitContext | None = None) -> None:
        self.params = params
        self.context = context
        self.task = context.task if context else "direction"

    def _network(self, n_features: int) -> nn.Module:
        raise NotImplementedError

    def _context(self) -> FitContext:
        return self.context or FitContext(task=self.task, seed=0, threads=cpu_count())

    def _batch_size(self) -> int:
        ctx = self.context
        return ctx.batch_size if ctx and ctx.batch_size else self.params.batch_size

    def _autocast(self) -> AbstractContextManager[Any]:
        dtype = AMP_DTYPES.get(self.precision_)
        if dtype is None or self.device_ != "cuda":
            return nullcontext()
        return torch.autocast(device_type="cuda", dtype=dtype)

    def _fp16_math(self) -> bool:
        """Whether a step runs fp16 kernels, whose gradients need loss scaling."""
        return self.device_ == "cuda" and self.precision_ == "fp16"

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        """A float32 tensor on the device; on CPU it shares memory with ``a`` when it can.

        Prepared parts are read-only arrays; torch warns that it cannot mark the tensor so.
        The learner only reads its inputs, and sharing is what keeps a second copy of the
        matrix out of memory.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")
            t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        return t.to(self.device_, non_blocking=True)

    # -- fit ------------------------------------------------------------------------------

    def fit(self, train: SplitData, valid: SplitData, reporter: Reporter) -> _SequenceLearner:
        ctx, p = self._context(), self.params
        self.task = ctx.task
        self.device_, self.precision_ = ctx.device, ctx.precision
        configure_torch(ctx)
        self.seeds_ = seed_everything(ctx.seed)  # also seeds weight init and dropout
        L = p.sequence_len
        # a contiguous int32 copy: a strided view would keep every window's int64 end alive
        train_ends = _compact(_windows_needed("training", train, L)[:: p.train_stride])
        valid_ends = _windows_needed("validation", valid, L)

        self.input_stats_ = feature_stats(train.X) if p.input_norm == "zscore" else None
        self.target_stats_ = _target_stats(train.y, ctx.task)
        self.n_features_ = int(train.X.shape[1])
        self.model_ = self._network(self.n_features_).to(self.device_)
        self._set_input_stats()

        # Reruns are bit-identical on CPU without torch.use_deterministic_algorithms: every op
        # here (LSTM, attention, matmul, gather, AdamW) has one CPU kernel with a fixed
        # reduction order, and the flag costs seconds per process (it imports torch._inductor).
        # On CUDA, cuDNN's RNN kernels have no deterministic mode, so GPU runs are not exact.
        self._train(train, valid, train_ends, valid_ends, reporter, ctx)
        return self

    def _set_input_stats(self) -> None:
        if self.input_stats_ is not None:
            mean, std = (torch.as_tensor(s, dtype=torch.float32) for s in self.input_stats_)
            norm = cast(InputNorm, self.model_.norm)
            norm.set_stats(mean.to(self.device_), std.to(self.device_))

    def _train(
        self,
        train: SplitData,
        valid: SplitData,
        train_ends: np.ndarray,
        valid_ends: np.ndarray,
        reporter: Reporter,
        ctx: FitContext,
    ) -> None:
        p, bs = self.params, self._batch_size()
        model = self.model_
        X = self._tensor(train.X)  # (n_train, F), shared with the numpy matrix on CPU
        X_valid = self._tensor(valid.X)
        loss_fn: nn.Module = nn.BCEWithLogitsLoss() if self.task == "direction" else nn.MSELoss()
        opt = torch.optim.AdamW(
            model.parameters(),
            lr=p.learning_rate,
            weight_decay=p.weight_decay,
            fused=self.device_ == "cuda",
        )
        fp16 = self._fp16_math()
        scaler = torch.amp.GradScaler("cuda", enabled=fp16)  # bf16 needs no loss scaling
        gen = torch.Generator().manual_seed(ctx.seed)  # the only source of shuffling
        n_batches = math.ceil(train_ends.size / bs)
        if p.max_batches_per_epoch is not None:
            n_batches = min(n_batches, p.max_batches_per_epoch)
        self.n_train_windows_, self.batches_per_epoch_ = int(train_ends.size), n_batches
        # int32 halves the permutation's memory (8 bytes a window otherwise), same order
        perm_dtype = torch.int32 if train_ends.size < 2**31 else torch.int64

        best_value, best_state, bad_epochs = -math.inf, None, 0
        self.history_: list[dict[str, float]] = []
        with ProgressBar(p.max_epochs * n_batches, f"{self.name} epoch 1", ctx.progress) as bar:
            for epoch in range(1, p.max_epochs + 1):
                model.train()
                order = torch.randperm(train_ends.size, generator=gen, dtype=perm_dtype).numpy()
                total = torch.zeros((), device=self.device_)
                for b in range(n_batches):
                    ends = train_ends[order[b * bs : (b + 1) * bs]]  # (B,) window end rows
                    total += self._step(X, train.y, ends, opt, scaler, loss_fn)
                    bar.advance()
                del order
                train_loss = float(total) / n_batches  # one device sync per epoch
                if not math.isfinite(train_loss) and not fp16:  # fp16: the scaler skips those
                    raise UserError(
                        f"model.learning_rate={p.learning_rate}: training diverged (loss"
                        f" {train_loss} at epoch {epoch}); lower model.learning_rate"
                    )
                scores = self._scores(X_valid, len(valid), valid_ends)
                value = self._valid_value(scores, valid, valid_ends, ctx)
                self.history_.append(
                    {"epoch": epoch, "train_loss": train_loss, "valid_objective": value}
                )
                if best_state is None or value > best_value:
                    best_value, bad_epochs = value, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    self.best_epoch_ = epoch
                    # the restored model's scores of this part: predict(valid) reuses them
                    self._valid_seen = (valid.X, valid_ends, scores)
                else:
                    bad_epochs += 1
                bar.describe(f"{self.name} epoch {epoch} valid {value:.4f}")
                reporter.report(value, epoch)  # may raise optuna.TrialPruned: let it pass
                if bad_epochs >= p.patience:
                    break
        if best_state is not None:  # max_epochs >= 1, so always
            model.load_state_dict(best_state)
        model.eval()

    def _micro_size(self) -> int:
        """Windows per forward pass: ``model.micro_batch_size``, or the whole batch."""
        bs, micro = self._batch_size(), self.params.micro_batch_size
        return min(micro, bs) if micro else bs

    def _step(
        self,
        X: torch.Tensor,
        y: np.ndarray,
        ends: np.ndarray,
        opt: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        loss_fn: nn.Module,
    ) -> torch.Tensor:
        """One optimiser step on the windows ending at ``ends``; returns the batch's mean loss.

        The batch runs forward and backward ``_micro_size()`` windows at a time, each loss
        weighted by its share of the batch: the summed gradient is the whole batch's (these
        networks have no batch norm), while one micro-batch's activations are alive at once.
        """
        L, micro = self.params.sequence_len, self._micro_size()
        y_mean, y_std = self.target_stats_
        opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device_)
        for start in range(0, ends.size, micro):
            part = ends[start : start + micro]  # (b,)
            rows = torch.from_numpy(window_rows(part, L)).to(self.device_)  # (b, L)
            xb = X[rows]  # (b, L, F): these windows, gathered
            # labels gathered per micro-batch: no standardised copy of the whole part
            yb = self._tensor((np.asarray(y[part], dtype=np.float64) - y_mean) / y_std)  # (b,)
            with self._autocast():
                out = self.model_(xb)  # (b,)
            loss = loss_fn(out.float(), yb)
            if part.size != ends.size:
                loss = loss * (part.size / ends.size)
            scaler.scale(loss).backward()  # adds to the gradients of earlier micro-batches
            total += loss.detach()
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(self.model_.parameters(), self.params.grad_clip)
        scaler.step(opt)
        scaler.update()
        return total

    def _scores(self, X: torch.Tensor, n_rows: int, ends: np.ndarray) -> np.ndarray:
        """(n_rows,) scores of a part, NaN where no window ends."""
        scores = np.full(n_rows, np.nan)
        if ends.size:
            scores[ends] = self._outputs(X, ends)
        return scores

    def _valid_value(
        self, scores: np.ndarray, valid: SplitData, ends: np.ndarray, ctx: FitContext
    ) -> float:
        """The validation objective (higher is better); minus the loss when none is given."""
        if ctx.score is not None:
            return float(ctx.score(scores, valid))
        target = np.asarray(valid.y, dtype=np.float64)[ends]
        if self.task == "direction":
            p = np.clip(scores[ends], 1e-7, 1 - 1e-7)
            return -float(np.mean(-(target * np.log(p) + (1 - target) * np.log(1 - p))))
        return -float(np.mean((scores[ends] - target) ** 2))

    # -- predict --------------------------------------------------------------------------

    def _outputs(self, X: torch.Tensor, ends: np.ndarray) -> np.ndarray:
        """Scores of the windows ending at ``ends``, (len(ends),) float64, in eval mode."""
        # micro-batches here too: inference activations of a whole batch can outweigh training's
        model, L, bs = self.model_, self.params.sequence_len, self._micro_size()
        was_training = model.training
        model.eval()
        chunks = []
        with torch.inference_mode(), self._autocast():
            for start in range(0, ends.size, bs):
                rows = torch.from_numpy(window_rows(ends[start : start + bs], L))
                out = model(X[rows.to(self.device_)]).float()  # (B,)
                chunks.append(out.cpu().numpy())
        model.train(was_training)
        raw = np.concatenate(chunks).astype(np.float64) if chunks else np.zeros(0)
        if self.task == "direction":
            return 1.0 / (1.0 + np.exp(-raw))  # P(up)
        mean, std = self.target_stats_
        return raw * std + mean  # predicted forward log return

    def predict(self, data: SplitData) -> np.ndarray:
        """(n_rows,) float64; NaN where fewer than ``sequence_len`` consecutive hours precede."""
        ends = valid_window_ends(data.segment, self.params.sequence_len)
        seen = getattr(self, "_valid_seen", None)
        # The validation part of the fit, which the best epoch scored with these very weights
        # (a whole pass over it: most of a short CPU trial). Read-only: it cannot have changed.
        if (
            seen is not None
            and data.X is seen[0]
            and not data.X.flags.writeable
            and np.array_equal(ends, seen[1])
        ):
            return np.array(seen[2])
        return self._scores(self._tensor(data.X), len(data), ends)

    # -- save / load ----------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model_.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))
        stats = self.input_stats_
        meta = {
            "format": FORMAT_VERSION,
            "model": self.name,
            "params": asdict(self.params),
            "task": self.task,
            "n_features": self.n_features_,
            "input_stats": None
            if stats is None
            else {"mean": stats[0].tolist(), "std": stats[1].tolist()},
            "target_stats": {"mean": self.target_stats_[0], "std": self.target_stats_[1]},
            "seeds": self.seeds_,
            "best_epoch": self.best_epoch_,
            "history": self.history_,
            "trained_on": {"device": self.device_, "precision": self.precision_},
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> _SequenceLearner:
        """A saved learner on the CPU, predicting exactly as it did when saved (on CPU)."""
        meta = _read_meta(directory / META_FILE, cls.name)
        try:
            params = cls.config_class(**meta["params"])
            learner = cls(params)
            learner.task = str(meta["task"])
            learner.n_features_ = int(meta["n_features"])
            stats = meta["input_stats"]
            learner.input_stats_ = (
                None
                if stats is None
                else (np.asarray(stats["mean"], np.float64), np.asarray(stats["std"], np.float64))
            )
            learner.target_stats_ = (
                float(meta["target_stats"]["mean"]),
                float(meta["target_stats"]["std"]),
            )
            learner.seeds_ = dict(meta["seeds"])
            learner.best_epoch_ = int(meta["best_epoch"])
            learner.history_ = list(meta["history"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"{directory / META_FILE}: missing or malformed entry ({exc}); tampered or"
                " written by another version"
            ) from None
        learner.device_, learner.precision_ = "cpu", "fp32"
        learner.model_ = learner._network(learner.n_features_)
        try:
            state = load_file(str(directory / WEIGHTS_FILE))
            learner.model_.load_state_dict(state, strict=True)
        except (OSError, SafetensorError, RuntimeError) as exc:
            msg = str(exc).splitlines()[0]
            raise UserError(
                f"{directory / WEIGHTS_FILE}: cannot load {cls.name} weights ({msg})"
            ) from None
        learner._set_input_stats()
        learner.model_.eval()
        return learner


def _read_meta(path: Path, name: str) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the model directory is incomplete") from None
    except ValueError:
        raise UserError(f"{path}: not valid JSON (truncated or tampered)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise UserError(
            f"{path}: format {meta.get('format') if isinstance(meta, dict) else None}"
            f" is not {FORMAT_VERSION}; written by another version of quantsweep"
        )
    if meta.get("model") != name:
        raise UserError(f"{path}: holds a {meta.get('model')!r} model, not {name!r}")
    return meta


class LSTMLearner(_SequenceLearner):
    name = "lstm"
    config_class = LSTMConfig
    params: LSTMConfig

    def _fp16_math(self) -> bool:
        # torch's autocast runs cuDNN RNNs in fp16 whatever the autocast dtype (the wrapper in
        # ATen/cudnn/AutocastRNN.cpp casts to Half), so bf16 runs need the GradScaler too.
        return self.device_ == "cuda" and self.precision_ in AMP_DTYPES

    def _network(self, n_features: int) -> nn.Module:
        p = self.params
        return LSTMNet(n_features, p.hidden_dim, p.num_layers, p.dropout, p.input_norm)


class TransformerLearner(_SequenceLearner):
    name = "transformer"
    config_class = TransformerConfig
    params: TransformerConfig

    def _network(self, n_features: int) -> nn.Module:
        p = self.params
        return TransformerNet(
            n_features,
            p.sequence_len,
            p.d_model,
            p.num_heads,
            p.num_layers,
            p.feedforward_dim,
            p.dropout,
            p.input_norm,
        )
