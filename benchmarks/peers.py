"""Optional peers, used when installed: PyTorch eager on CPU and scikit-learn's MLPClassifier.

Both run the same step as the JAX variants: the same sizes, hidden activation, float32 data,
softmax cross-entropy (scikit-learn: logistic output for two classes), Adam with learning rate
1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay; one step per minibatch.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from configs import Config
from harness import Runner, rss_bytes
from jax_variants import B1, B2, EPS, LEARNING_RATE


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def sklearn_available() -> bool:
    try:
        import sklearn.neural_network  # noqa: F401
    except ImportError:
        return False
    return True


def torch_adam(parameters, lr: float):
    """``torch.optim.Adam(fused=True)`` where this PyTorch has it (else its default, foreach),
    β = (B1, B2), ε = EPS; returns ``(optimizer, "fused" | "foreach")``."""
    import torch

    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=lr, betas=(B1, B2), eps=EPS, fused=True), "fused"
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(parameters, lr=lr, betas=(B1, B2), eps=EPS), "foreach"


class TorchRunner(Runner):
    """PyTorch eager: ``nn.Sequential`` of ``nn.Linear``, ``F.cross_entropy``, ``optim.Adam``."""

    name = "torch_eager"
    mode = "eager"
    library = "torch"
    family = "peer"

    def __init__(
        self, config: Config, x: np.ndarray, y: np.ndarray, params: list, threads: int
    ) -> None:
        super().__init__()
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.description = (
            f"PyTorch {torch.__version__} eager on CPU ({threads} threads): nn.Linear stack, "
            "F.cross_entropy"
        )
        act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}[config.activation]
        layers: list = []
        for i, (w, b) in enumerate(params):
            lin = torch.nn.Linear(w.shape[0], w.shape[1])
            with torch.no_grad():  # the same initial values as the JAX variants
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(np.asarray(w).T)))
                lin.bias.copy_(torch.from_numpy(np.asarray(b).copy()))
            layers.append(lin)
            if i < len(params) - 1:
                layers.append(act())
        self.model = torch.nn.Sequential(*layers)
        self.opt, kind = torch_adam(self.model.parameters(), LEARNING_RATE)
        self.description += f", Adam ({kind})"
        pool = min(len(x), 16)
        self.xs = [torch.from_numpy(np.asarray(x[i])) for i in range(pool)]
        self.ys = [torch.from_numpy(np.asarray(y[i]).astype(np.int64)) for i in range(pool)]
        self.loss = None

    def _step(self, x, y):
        self.opt.zero_grad(set_to_none=True)
        loss = self.torch.nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss

    def prepare(self) -> None:
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        self.loss = self._step(self.xs[0], self.ys[0])
        self.first_loss = float(self.loss.detach())
        self.info = {
            "first_call_s": time.perf_counter() - t0,
            "rss_delta_bytes": rss_bytes() - rss0,
        }

    def run(self, n: int) -> float:
        xs, ys, pool, step = self.xs, self.ys, len(self.xs), self._step
        t0 = time.perf_counter()
        for i in range(n):
            loss = step(xs[i % pool], ys[i % pool])
        dt = time.perf_counter() - t0
        self.loss = loss
        return dt

    def close(self) -> None:
        if self.loss is not None:
            self.last_loss = float(self.loss.detach())
        self.model = self.opt = self.xs = self.ys = None


class SklearnRunner(Runner):
    """scikit-learn ``MLPClassifier(solver="adam")``, one ``partial_fit`` per minibatch."""

    name = "sklearn_mlp"
    mode = "partial_fit"
    library = "sklearn"
    family = "peer"

    def __init__(self, config: Config, x: np.ndarray, y: np.ndarray, params: list) -> None:
        super().__init__()
        import sklearn
        from sklearn.neural_network import MLPClassifier

        self.description = (
            f"scikit-learn {sklearn.__version__} MLPClassifier(solver='adam', alpha=0), partial_fit "
            "per minibatch (numpy BLAS threads)"
        )
        self.classes = np.arange(config.sizes[-1])
        self.model = MLPClassifier(
            hidden_layer_sizes=config.sizes[1:-1],
            activation={"relu": "relu", "sigmoid": "logistic"}[config.activation],
            solver="adam",
            alpha=0.0,
            batch_size=config.batch,
            learning_rate_init=LEARNING_RATE,
            beta_1=B1,
            beta_2=B2,
            epsilon=EPS,
            shuffle=False,
            random_state=0,
        )
        pool = min(len(x), 16)
        self.xs = [np.ascontiguousarray(x[i]) for i in range(pool)]
        self.ys = [np.asarray(y[i]) for i in range(pool)]

    def prepare(self) -> None:
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.partial_fit(self.xs[0], self.ys[0], classes=self.classes)
        self.info = {
            "first_call_s": time.perf_counter() - t0,
            "rss_delta_bytes": rss_bytes() - rss0,
        }
        self.first_loss = float(self.model.loss_)

    def run(self, n: int) -> float:
        xs, ys, pool, fit = self.xs, self.ys, len(self.xs), self.model.partial_fit
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            for i in range(n):
                fit(xs[i % pool], ys[i % pool])
            dt = time.perf_counter() - t0
        return dt

    def close(self) -> None:
        self.last_loss = float(getattr(self.model, "loss_", float("nan")))
        self.model = None
