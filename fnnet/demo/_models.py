"""The demo's data sets, models and presets: one preset per (data set, model) pair."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

import fnnet
from fnnet import (
    activations,
    data,
    initializers,
    layers,
    optimizers,
    recurrent,
)

ACTIVATIONS = {
    "relu": activations.relu,
    "tanh": activations.tanh,
    "sigmoid": activations.sigmoid,
    "elu": activations.elu,
    "silu": activations.silu,
    "gelu": activations.gelu,
    "softplus": activations.softplus,
    "leaky_relu": activations.leaky_relu,
}
OPTIMIZERS = {  # name -> (learning rate, decoupled weight decay) -> Optimizer
    "sgd": lambda lr, _: optimizers.sgd(lr),
    "momentum": lambda lr, _: optimizers.sgd(lr, momentum=0.9),
    "nesterov": lambda lr, _: optimizers.sgd(lr, momentum=0.9, nesterov=True),
    "adagrad": lambda lr, _: optimizers.adagrad(lr),
    "rmsprop": lambda lr, _: optimizers.rmsprop(lr),
    "adam": lambda lr, _: optimizers.adam(lr),
    "adamw": lambda lr, decay: optimizers.adamw(lr, weight_decay=decay),
}
CELLS = {"gru": recurrent.GRU, "lstm": recurrent.LSTM, "elman": recurrent.Elman}
MODELS = ("mlp", "cnn", *CELLS)
# Per (data set, model). ``hidden``: the MLP's layer sizes, the CNN's width, the recurrent
# hidden units per direction. The MNIST-1D authors' MLP: 100 ReLUs, then a residual block of
# 100 ReLUs (h + relu(W h + b)), Adam 1e-2, batch 100, 6000 steps = 150 epochs of 4000
# samples. Their bidirectional GRU (LSTM, Elman): the same optimizer and steps. (The authors
# take the batches in order; ``fit`` shuffles them every epoch; examples/rnn_mnist1d.py follows
# the authors exactly.) The CNN recipes were chosen on validation splits carved from the
# training sets (docs/conv.md).
_PRESET_FIELDS = (
    "hidden", "epochs", "batch_size", "lr", "dropout", "input_dropout", "cosine", "l2", "residual",
    "optimizer", "weight_decay", "activation",
)  # fmt: skip
_RNN = ((6,), 150, 100, 1e-2, 0.0, 0.0, False, 0.0, False, "adam", 0.0)
PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    pair: dict(zip(_PRESET_FIELDS, row, strict=True))
    for pair, row in {
        ("digits", "mlp"):  ((512,),     100, 32,  1e-3, 0.5, 0.2, True,  0.0, False, "adam",  0.0,  "relu"),
        ("digits", "cnn"):  ((32,),      60,  32,  3e-3, 0.3, 0.0, True,  0.0, False, "adamw", 5e-2, "relu"),
        ("mnist1d", "mlp"): ((100, 100), 150, 100, 1e-2, 0.0, 0.0, False, 0.0, True,  "adam",  0.0,  "relu"),
        ("mnist1d", "cnn"): ((64,),      60,  50,  2e-2, 0.0, 0.0, True,  0.0, False, "adamw", 5e-2, "relu"),
        ("mnist1d", "gru"): (*_RNN, None),
        ("mnist1d", "lstm"): (*_RNN, None),
        ("mnist1d", "elman"): (*_RNN, "tanh"),
        ("moons", "mlp"):   ((32, 32),   100, 32,  1e-2, 0.0, 0.0, False, 0.0, False, "adam",  0.0,  "relu"),
        ("spirals", "mlp"): ((64, 64),   300, 32,  1e-2, 0.0, 0.0, False, 0.0, False, "adam",  0.0,  "relu"),
    }.items()
}  # fmt: skip
DATASETS = sorted({name for name, _ in PRESETS})


def load(name: str, key: jax.Array) -> tuple[tuple[Any, Any], tuple[Any, Any], int]:
    """``(train, test, num_classes)`` for a data set name; digits split stratified 70/30."""
    if name == "mnist1d":
        split = data.mnist1d()
        return (split.train.x, split.train.y), (split.test.x, split.test.y), 10
    if name == "digits":
        d = data.digits()
    elif name == "moons":
        d = data.two_moons(key, 1000, noise=0.2)
    else:
        d = data.two_spirals(key, 1000)
    train, test = data.train_test_split(jax.random.fold_in(key, 1), d.x, d.y, test_fraction=0.3)
    return train, test, d.num_classes


def prepare(name: str, model: str, x: Any, train_x: Any) -> Any:
    """The model's input: digits pixels standardised with training statistics for the MLP, kept
    in [0, 1] as 8×8×1 images for the CNN; MNIST-1D as (40, 1) series for CNNs and RNNs."""
    if model == "mlp":
        return data.standardize(train_x, x)[0][1] if name == "digits" else x
    return x.reshape(-1, 8, 8, 1) if name == "digits" else x[..., None]


def build(
    num_classes: int,
    hidden: Sequence[int],
    activation,
    dropout: float,
    input_dropout: float,
    *,
    residual: bool = False,
    model: str = "mlp",
    example_shape: Sequence[int] = (),
) -> fnnet.layers.SerialLayer:
    """The network ``model`` for inputs of one example's shape ``example_shape``, with dropout.

    ``mlp``: dense layers of sizes ``hidden`` (He init for the ReLU family); with
    ``residual=True`` every hidden layer after the first of equal width is wrapped in a skip
    connection ``h + f(W h + b)`` (the MNIST-1D authors' MLP). ``cnn`` (``width = hidden[0]``):
    for a series, three SAME convolutions of ``max(width/2, 1)``, ``width``, ``width`` maps
    (kernels 5, 3, 3), each followed by max-pooling 2; for an image, two 3×3 SAME convolutions
    of ``width`` maps, max-pooling 2×2, a 3×3 SAME convolution of ``2·width`` maps, max-pooling
    2×2 (docs/conv.md's recipes). ``gru``/``lstm``/``elman``: a bidirectional layer of
    ``hidden[0]`` units per direction whose outputs at every step are flattened, PyTorch's
    default initialisation throughout (the MNIST-1D authors' ``GRUBase``). CNNs and RNNs end in
    flatten, dropout (when ``dropout > 0``) and dense logits.
    """
    body = [fnnet.Dropout(input_dropout)] if input_dropout > 0 else []
    head = fnnet.Dense(num_classes)  # logits; the loss applies the softmax
    if model == "mlp":
        w_init = (
            initializers.glorot_normal()
            if activation in (activations.sigmoid, activations.tanh)
            else initializers.he_normal()
        )
        for i, width in enumerate(hidden):
            dense = fnnet.Dense(width, activation, w_init=w_init)
            body.append(
                fnnet.layers.Residual(dense)
                if residual and i > 0 and hidden[i - 1] == width
                else dense
            )
            if dropout > 0:
                body.append(fnnet.Dropout(dropout))
        return fnnet.serial(*body, head)
    width = hidden[0]
    if model == "cnn":
        pool = layers.MaxPool

        def conv(features: int, kernel: int | tuple[int, int]) -> fnnet.layers.Layer:
            return layers.Conv(features, kernel, padding="SAME", activation=activation)

        if len(example_shape) == 2:  # (length, channels)
            half = max(width // 2, 1)
            body += [conv(half, 5), pool(2), conv(width, 3), pool(2), conv(width, 3), pool(2)]
        else:  # (height, width, channels)
            k = (3, 3)
            body += [conv(width, k), conv(width, k), pool((2, 2)), conv(2 * width, k), pool((2, 2))]
        body.append(layers.Flatten())
    else:
        cell = CELLS[model](width, **({"activation": activation} if model == "elman" else {}))
        body += [recurrent.Bidirectional(cell), layers.Flatten(2)]
        torch_linear = initializers.fan_in_uniform(example_shape[0] * 2 * width)
        head = fnnet.Dense(num_classes, w_init=torch_linear, b_init=torch_linear)
    return fnnet.serial(*body, *([fnnet.Dropout(dropout)] if dropout > 0 else []), head)
