"""The networks of ``benchmarks/families.py``: each written four ways from the same weights.

A :class:`Case` holds one network as fnnet layers (its ``init`` draws the weights every other
version starts from), as a raw-JAX forward in ``jax.numpy``/``lax`` reading fnnet's parameter
pytree, as a Flax ``linen`` module with those weights copied in, and as a PyTorch ``nn.Module``
with them copied in (channels-first where PyTorch wants it: its input is transposed once, outside
the timed step). Every network ends in a linear layer of logits (10 classes; the 2-2-2 MLP 2) trained with softmax
cross-entropy on integer labels.

Networks (issue 22's table):

* recurrent: ``{lstm,gru,elman}{128,512}[bi]``: batch 64, 100 steps, 32 input features, hidden
  128 or 512, one direction or both, all outputs flattened into Dense(10); ``bigru_mnist1d``:
  the MNIST-1D authors' ``GRUBase`` (batch 100, 40 steps, 1 feature, a bidirectional GRU of 6);
* conv: ``convbase_mnist1d`` (the authors' ``ConvBase``, batch 100) and ``digits_cnn`` (the
  network of ``examples/cnn_digits.py`` without dropout, batch 32 of 8×8×1);
* mlp: ``mlp_tiny`` 2-2-2 sigmoid batch 1, ``mlp_small`` 64-128-128-10 ReLU batch 128,
  ``mlp_medium`` 784-512-512-10 ReLU batch 128;
* smoke (the test suite's): ``lstm_smoke`` and ``conv_smoke``, tiny versions of the above.

The raw-JAX recurrent cells are written the way a JAX user writes them: one
``x_t W_ih + b_ih + h W_hh + b_hh`` per step inside ``lax.scan``, the reverse direction by
flipping time. Flax's cells are ``OptimizedLSTMCell``, ``GRUCell`` and ``SimpleCell`` in
``nn.RNN`` (a ``lax.scan``), ``nn.Bidirectional`` for both directions.
"""

from __future__ import annotations

import importlib.util
import math
import pathlib
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import fnnet
from fnnet import activations, initializers, layers, recurrent

_EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


# Flax is a peer of the `bench` extra only: without it the Flax variants are skipped.
HAVE_FLAX = importlib.util.find_spec("flax") is not None


class Case(NamedTuple):
    name: str
    group: str  # "recurrent" | "conv" | "mlp" | "smoke"
    description: str
    net: Any  # the fnnet layer
    input_shape: tuple[int, ...]  # (batch, ...)
    raw_forward: Callable[[Any, jax.Array], jax.Array]  # (fnnet params, x) -> logits
    flax: Callable[[Any], tuple[Callable, Any]] | None  # params -> (apply(vars, x), vars)
    torch: Callable[[Any], tuple[Any, Callable]] | None  # params -> (module, x_to_torch)
    scan_steps: int  # train steps per compiled lax.scan call
    quick_scan_steps: int
    classes: int = 10


# ---------------------------------------------------------------- recurrent


def _lstm_cell(p, carry, x_t):
    h, c = carry
    z = x_t @ p.w_ih + p.b_ih + h @ p.w_hh + p.b_hh
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h


def _gru_cell(p, carry, x_t):
    (h,) = carry
    gi = x_t @ p.w_ih + p.b_ih
    gh = h @ p.w_hh + p.b_hh
    hidden = h.shape[-1]
    r = jax.nn.sigmoid(gi[:, :hidden] + gh[:, :hidden])
    z = jax.nn.sigmoid(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
    n = jnp.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
    h = (1.0 - z) * n + z * h
    return (h,), h


def _elman_cell(p, carry, x_t):
    (h,) = carry
    h = jnp.tanh(x_t @ p.w_ih + p.b_ih + h @ p.w_hh + p.b_hh)
    return (h,), h


_RAW_CELLS = {"lstm": (_lstm_cell, 2), "gru": (_gru_cell, 1), "elman": (_elman_cell, 1)}


def _raw_rnn(kind: str, p, x: jax.Array, reverse: bool = False) -> jax.Array:
    cell, num_states = _RAW_CELLS[kind]
    xs = jnp.swapaxes(x, 0, 1)
    if reverse:
        xs = jnp.flip(xs, axis=0)
    h0 = jnp.zeros((x.shape[0], p.w_hh.shape[0]), x.dtype)
    ys = lax.scan(lambda s, x_t: cell(p, s, x_t), (h0,) * num_states, xs)[1]
    if reverse:
        ys = jnp.flip(ys, axis=0)
    return jnp.swapaxes(ys, 0, 1)


def _raw_sequence_net(kind: str, bidirectional: bool) -> Callable:
    def forward(params, x):
        rnn, _, dense = params
        if bidirectional:
            y = jnp.concatenate([_raw_rnn(kind, rnn[0], x), _raw_rnn(kind, rnn[1], x, True)], -1)
        else:
            y = _raw_rnn(kind, rnn, x)
        return y.reshape(x.shape[0], -1) @ dense.w + dense.b

    return forward


def _flax_cell_params(kind: str, p) -> dict:
    """fnnet's ``(w_ih, w_hh, b_ih, b_hh)`` in Flax's per-gate kernels (one bias where Flax has
    one: the sum of PyTorch's two)."""
    a = lambda v: jnp.array(v, copy=True)  # noqa: E731
    h = p.w_hh.shape[0]
    block = lambda w, k: a(w[..., k * h : (k + 1) * h])  # noqa: E731
    if kind == "lstm":
        out = {}
        for k, gate in enumerate("ifgo"):
            out[f"i{gate}"] = {"kernel": block(p.w_ih, k)}
            out[f"h{gate}"] = {"kernel": block(p.w_hh, k), "bias": block(p.b_ih + p.b_hh, k)}
        return out
    if kind == "gru":
        return {
            "ir": {"kernel": block(p.w_ih, 0), "bias": block(p.b_ih + p.b_hh, 0)},
            "iz": {"kernel": block(p.w_ih, 1), "bias": block(p.b_ih + p.b_hh, 1)},
            "in": {"kernel": block(p.w_ih, 2), "bias": block(p.b_ih, 2)},
            "hr": {"kernel": block(p.w_hh, 0)},
            "hz": {"kernel": block(p.w_hh, 1)},
            "hn": {"kernel": block(p.w_hh, 2), "bias": block(p.b_hh, 2)},
        }
    return {"i": {"kernel": a(p.w_ih), "bias": a(p.b_ih + p.b_hh)}, "h": {"kernel": a(p.w_hh)}}


def _flax_sequence_net(kind: str, hidden: int, bidirectional: bool) -> Callable | None:
    if not HAVE_FLAX:
        return None
    import flax.linen as nn

    cells = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell, "elman": nn.SimpleCell}

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            # cells made here belong to this module: their parameters sit under their names
            if bidirectional:
                forward = nn.RNN(cells[kind](hidden, name="forward"))
                backward = nn.RNN(cells[kind](hidden, name="backward"))
                y = nn.Bidirectional(forward, backward)(x)
            else:
                y = nn.RNN(cells[kind](hidden, name="cell"))(x)
            return nn.Dense(10, name="dense")(y.reshape(x.shape[0], -1))

    def convert(params):
        rnn, _, dense = params
        if bidirectional:
            tree = {
                "forward": _flax_cell_params(kind, rnn[0]),
                "backward": _flax_cell_params(kind, rnn[1]),
            }
        else:
            tree = {"cell": _flax_cell_params(kind, rnn)}
        variables = {"params": {**tree, "dense": _flax_dense(dense)}}
        return Net().apply, variables

    return convert


def _torch_sequence_net(kind: str, features: int, hidden: int, bidirectional: bool) -> Callable:
    def build(params):
        import torch
        from torch import nn

        module = {"lstm": nn.LSTM, "gru": nn.GRU, "elman": nn.RNN}[kind]
        rnn_params, _, dense = params
        rnn = module(features, hidden, batch_first=True, bidirectional=bidirectional)
        directions = rnn_params if bidirectional else (rnn_params,)
        with torch.no_grad():
            for suffix, p in zip(("", "_reverse"), directions):
                for ours, theirs in (("w_ih", "weight_ih"), ("w_hh", "weight_hh")):
                    getattr(rnn, f"{theirs}_l0{suffix}").copy_(_t(getattr(p, ours).T))
                getattr(rnn, f"bias_ih_l0{suffix}").copy_(_t(p.b_ih))
                getattr(rnn, f"bias_hh_l0{suffix}").copy_(_t(p.b_hh))
        linear = _torch_linear(dense)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn, self.linear = rnn, linear

            def forward(self, x):
                y, _ = self.rnn(x)
                return self.linear(y.reshape(x.shape[0], -1))

        return Net(), lambda x: x

    return build


def recurrent_case(
    kind: str,
    hidden: int,
    bidirectional: bool,
    *,
    batch: int = 64,
    time: int = 100,
    features: int = 32,
    name: str | None = None,
    scan_steps: int = 4,
) -> Case:
    cell = {"lstm": recurrent.LSTM, "gru": recurrent.GRU, "elman": recurrent.Elman}[kind](hidden)
    rnn = recurrent.Bidirectional(cell) if bidirectional else cell
    net = fnnet.serial(rnn, layers.Flatten(), fnnet.Dense(10))
    label = {"lstm": "LSTM", "gru": "GRU", "elman": "Elman"}[kind]
    return Case(
        name or f"{kind}{hidden}{'bi' if bidirectional else ''}",
        "recurrent",
        f"{'bidirectional ' if bidirectional else ''}{label}, batch {batch}, T {time}, "
        f"input {features}, hidden {hidden}; outputs flattened, Dense 10",
        net,
        (batch, time, features),
        _raw_sequence_net(kind, bidirectional),
        _flax_sequence_net(kind, hidden, bidirectional),
        _torch_sequence_net(kind, features, hidden, bidirectional),
        scan_steps,
        max(1, scan_steps // 2),
    )


def bigru_mnist1d() -> Case:
    """The MNIST-1D authors' GRUBase (benchmarks/recurrent.py's network)."""
    t, hidden = 40, 6
    linear = initializers.uniform(1.0 / math.sqrt(t * 2 * hidden))
    net = fnnet.serial(
        recurrent.Bidirectional(recurrent.GRU(hidden)),
        layers.Flatten(),
        layers.Dense(10, w_init=linear, b_init=linear),
    )
    return Case(
        "bigru_mnist1d",
        "recurrent",
        "MNIST-1D GRUBase: bidirectional GRU, batch 100, T 40, input 1, hidden 6; Dense 10",
        net,
        (100, t, 1),
        _raw_sequence_net("gru", True),
        _flax_sequence_net("gru", hidden, True),
        _torch_sequence_net("gru", 1, hidden, True),
        50,
        20,
    )


# ---------------------------------------------------------------- convolution


def lax_conv(x, p, strides, padding):
    n = x.ndim - 2
    spec = (0, n + 1, *range(1, n + 1))
    numbers = lax.ConvDimensionNumbers(spec, (n + 1, n, *range(n)), spec)
    return lax.conv_general_dilated(x, p.w, strides, padding, dimension_numbers=numbers) + p.b


def lax_maxpool(x):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def raw_convbase(params, x):
    for p in params[:3]:
        x = jax.nn.relu(lax_conv(x, p, (2,), [(1, 1)]))
    x = x.reshape(x.shape[0], -1)
    return x @ params[4].w + params[4].b


def raw_digits(params, x):
    x = jax.nn.relu(lax_conv(x, params[0], (1, 1), "SAME"))
    x = lax_maxpool(jax.nn.relu(lax_conv(x, params[1], (1, 1), "SAME")))
    x = lax_maxpool(jax.nn.relu(lax_conv(x, params[3], (1, 1), "SAME")))
    x = x.reshape(x.shape[0], -1)
    return x @ params[6].w + params[6].b


def _flax_convbase(params):
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            for i, k in enumerate((5, 3, 3)):
                x = nn.relu(nn.Conv(25, (k,), strides=(2,), padding=[(1, 1)], name=f"c{i}")(x))
            return nn.Dense(10, name="dense")(x.reshape(x.shape[0], -1))

    tree = {f"c{i}": _flax_dense(params[i]) for i in range(3)}
    return Net().apply, {"params": {**tree, "dense": _flax_dense(params[4])}}


def _flax_digits(params):
    import flax.linen as nn

    width = params[0].w.shape[-1]

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            pool = lambda v: nn.max_pool(v, (2, 2), strides=(2, 2))  # noqa: E731
            x = nn.relu(nn.Conv(width, (3, 3), padding="SAME", name="c0")(x))
            x = pool(nn.relu(nn.Conv(width, (3, 3), padding="SAME", name="c1")(x)))
            x = pool(nn.relu(nn.Conv(2 * width, (3, 3), padding="SAME", name="c2")(x)))
            return nn.Dense(10, name="dense")(x.reshape(x.shape[0], -1))

    tree = {"c0": params[0], "c1": params[1], "c2": params[3], "dense": params[6]}
    return Net().apply, {"params": {k: _flax_dense(p) for k, p in tree.items()}}


def _torch_conv(layer_params, module):
    import torch

    w = np.asarray(layer_params.w)  # (*kernel, in, out) -> (out, in, *kernel)
    with torch.no_grad():
        module.weight.copy_(
            torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, (-1, -2), (0, 1))))
        )
        module.bias.copy_(_t(layer_params.b))
    return module


def _torch_flat_linear(dense, spatial: tuple[int, ...], channels: int):
    """A Linear reading PyTorch's channels-first flatten with fnnet's channels-last weights."""
    w = np.asarray(dense.w).reshape(*spatial, channels, -1)
    w = np.moveaxis(w, -2, 0).reshape(channels * math.prod(spatial), -1)
    return _torch_linear(type(dense)(w, dense.b))


def _torch_convbase(params):
    from torch import nn

    convs = [
        _torch_conv(params[i], nn.Conv1d(c, 25, k, 2, 1))
        for i, (c, k) in enumerate(((1, 5), (25, 3), (25, 3)))
    ]
    model = nn.Sequential(
        convs[0], nn.ReLU(), convs[1], nn.ReLU(), convs[2], nn.ReLU(), nn.Flatten(),
        _torch_flat_linear(params[4], (5,), 25),
    )  # fmt: skip
    return model, lambda x: np.ascontiguousarray(np.moveaxis(x, -1, 1))


def _torch_digits(params):
    from torch import nn

    w = params[0].w.shape[-1]
    model = nn.Sequential(
        _torch_conv(params[0], nn.Conv2d(1, w, 3, padding=1)), nn.ReLU(),
        _torch_conv(params[1], nn.Conv2d(w, w, 3, padding=1)), nn.ReLU(), nn.MaxPool2d(2),
        _torch_conv(params[3], nn.Conv2d(w, 2 * w, 3, padding=1)), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), _torch_flat_linear(params[6], (2, 2), 2 * w),
    )  # fmt: skip
    return model, lambda x: np.ascontiguousarray(np.moveaxis(x, -1, 1))


def _examples():
    if str(_EXAMPLES) not in sys.path:
        sys.path.insert(0, str(_EXAMPLES))


def convbase_mnist1d() -> Case:
    _examples()
    from cnn_mnist1d import authors_cnn

    return Case(
        "convbase_mnist1d",
        "conv",
        "MNIST-1D ConvBase: Conv1d 1→25 k5 s2 p1, 25→25 k3 s2 p1 twice, ReLU, Dense 10; batch 100",
        authors_cnn(),
        (100, 40, 1),
        raw_convbase,
        _flax_convbase if HAVE_FLAX else None,
        _torch_convbase,
        50,
        20,
    )


def digits_cnn(width: int = 32, batch: int = 32) -> Case:
    _examples()
    from cnn_digits import digits_cnn as net

    return Case(
        "digits_cnn",
        "conv",
        "digits 2-D CNN: Conv 32 3×3 SAME ×2, max-pool 2, Conv 64 3×3 SAME, max-pool 2, "
        "Dense 10 (examples/cnn_digits.py without dropout); batch 32 of 8×8×1",
        net(width, dropout=0.0),
        (batch, 8, 8, 1),
        raw_digits,
        _flax_digits if HAVE_FLAX else None,
        _torch_digits,
        50,
        20,
    )


# ---------------------------------------------------------------- MLP


def _raw_mlp(act: Callable) -> Callable:
    def forward(params, x):
        *hidden, out = params
        for p in hidden:
            x = act(x @ p.w + p.b)
        return x @ out.w + out.b

    return forward


def _flax_mlp(sizes: tuple[int, ...], act: Callable) -> Callable:
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            for i, n in enumerate(sizes[1:-1]):
                x = act(nn.Dense(n, name=f"d{i}")(x))
            return nn.Dense(sizes[-1], name="out")(x)

    def convert(params):
        names = [f"d{i}" for i in range(len(sizes) - 2)] + ["out"]
        return Net().apply, {"params": {k: _flax_dense(p) for k, p in zip(names, params)}}

    return convert


def _torch_mlp(activation: str) -> Callable:
    def build(params):
        from torch import nn

        mods: list = []
        for i, p in enumerate(params):
            mods.append(_torch_linear(p))
            if i < len(params) - 1:
                mods.append({"relu": nn.ReLU, "sigmoid": nn.Sigmoid}[activation]())
        return nn.Sequential(*mods), lambda x: x

    return build


def mlp_case(
    name: str, sizes: tuple[int, ...], activation: str, batch: int, scan_steps: int
) -> Case:
    fn = {"relu": activations.relu, "sigmoid": activations.sigmoid}[activation]
    raw = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}[activation]
    net = fnnet.serial(*[fnnet.Dense(n, fn) for n in sizes[1:-1]], fnnet.Dense(sizes[-1]))
    return Case(
        name,
        "mlp",
        f"MLP {'-'.join(map(str, sizes))} {activation}, batch {batch}",
        net,
        (batch, sizes[0]),
        _raw_mlp(raw),
        _flax_mlp(sizes, raw),
        _torch_mlp(activation),
        scan_steps,
        max(1, scan_steps // 4),
        sizes[-1],
    )


# ---------------------------------------------------------------- shared converters


def _t(a):
    import torch

    return torch.from_numpy(np.array(a, dtype=np.float32, copy=True))


def _torch_linear(p):
    import torch
    from torch import nn

    w = np.asarray(p.w)
    linear = nn.Linear(w.shape[0], w.shape[1])
    with torch.no_grad():
        linear.weight.copy_(_t(w.T))
        linear.bias.copy_(_t(p.b))
    return linear


def _flax_dense(p) -> dict:
    """A Dense or Conv layer's ``(w, b)`` as Flax's ``{"kernel", "bias"}`` (the same layout)."""
    return {"kernel": jnp.array(p.w, copy=True), "bias": jnp.array(p.b, copy=True)}


# ---------------------------------------------------------------- the registry


def all_cases() -> dict[str, Callable[[], Case]]:
    """Name -> builder, in the report's order."""
    cases: dict[str, Callable[[], Case]] = {}
    for kind in ("lstm", "gru", "elman"):
        for hidden in (128, 512):
            for bi in (False, True):
                steps = 4 if hidden == 128 else 2
                cases[f"{kind}{hidden}{'bi' if bi else ''}"] = (
                    lambda k=kind, h=hidden, b=bi, s=steps: recurrent_case(k, h, b, scan_steps=s)
                )
    cases["bigru_mnist1d"] = bigru_mnist1d
    cases["convbase_mnist1d"] = convbase_mnist1d
    cases["digits_cnn"] = digits_cnn
    cases["mlp_tiny"] = lambda: mlp_case("mlp_tiny", (2, 2, 2), "sigmoid", 1, 2000)
    cases["mlp_small"] = lambda: mlp_case("mlp_small", (64, 128, 128, 10), "relu", 128, 200)
    cases["mlp_medium"] = lambda: mlp_case("mlp_medium", (784, 512, 512, 10), "relu", 128, 20)
    cases["lstm_smoke"] = lambda: recurrent_case(
        "lstm", 8, True, batch=4, time=5, features=3, name="lstm_smoke", scan_steps=4
    )
    cases["conv_smoke"] = _smoke(
        lambda: digits_cnn(4, 4)._replace(
            name="conv_smoke", description="digits CNN, width 4, batch 4"
        )
    )
    cases["lstm_smoke"] = _smoke(cases["lstm_smoke"])
    return cases


def _smoke(build: Callable[[], Case]) -> Callable[[], Case]:
    return lambda: build()._replace(group="smoke", scan_steps=2, quick_scan_steps=2)
