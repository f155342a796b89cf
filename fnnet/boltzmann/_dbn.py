"""Deep belief nets: greedy layer-wise RBM pretraining, then an explicit hand-off to an MLP.

Hinton, Osindero & Teh (2006): train an RBM on the data, then another on the first one's hidden
probabilities ``σ(vW₁ + c₁)``, and so on. The stack is then read as a feed-forward network: RBM
``l``'s ``(W_l, c_l)`` become the ``DenseParams(w, b)`` of a sigmoid ``Dense`` layer (its
visible bias ``b_l`` is used only by the generative model and dropped), a fresh output layer
goes on top, and ``fnnet.fit`` fine-tunes the whole network by backpropagation::

    rbms = dbn_pretrain(x, (256, 256), key=key, optimizer=sgd(0.05), epochs=10).rbms
    net, params = dbn_classifier(rbms, num_outputs=10, key=key, dropout=0.2)
    fnnet.fit(net.apply, params, softmax_cross_entropy, sgd(0.1), (x, y), ...)

The same ``net`` with ``params`` from ``net.init`` is the network without pretraining.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax

from fnnet import activations
from fnnet._checks import check_bool, check_key, check_positive_int, check_real
from fnnet.boltzmann._rbm import RBMParams, _hidden_probs, _visible
from fnnet.boltzmann._train import rbm_fit
from fnnet.layers import Dense, DenseParams, Dropout, SerialLayer, serial


class DBNPretrain(NamedTuple):
    """Result of :func:`dbn_pretrain`: the ``rbms`` bottom to top and each one's per-epoch
    ``reconstruction_error`` (a tuple of arrays)."""

    rbms: tuple[RBMParams, ...]
    reconstruction_errors: tuple[Any, ...]


def dbn_pretrain(
    x: Any,
    hidden: Sequence[int],
    *,
    key: Any,
    optimizer: Any,
    epochs: int,
    batch_size: int = 10,
    k: int = 1,
    persistent: bool = False,
    gaussian: bool = False,
    init_scale: Any = 0.01,
) -> DBNPretrain:
    """Greedy layer-wise pretraining: RBM ``l`` (``rbm_fit`` with ``key=fold_in(key, l)``) is
    trained on the hidden probabilities of RBM ``l − 1``.

    Args:
        x: ``(n, visible)``, in ``[0, 1]`` (or standardised with ``gaussian=True``, which
            applies to the bottom RBM only: every layer above sees probabilities).
        hidden: hidden sizes bottom to top, e.g. ``(256, 256)``.
        key: a ``jax.random`` key (keyword-only).
        optimizer: as in :func:`fnnet.boltzmann.rbm_fit`, for every layer.
        epochs: as in :func:`fnnet.boltzmann.rbm_fit`, for every layer.
        batch_size: as in :func:`fnnet.boltzmann.rbm_fit`, for every layer.
        k: as in :func:`fnnet.boltzmann.rbm_fit`, for every layer.
        persistent: as in :func:`fnnet.boltzmann.rbm_fit`, for every layer.
        init_scale: as in :func:`fnnet.boltzmann.rbm_fit`, for every layer.

    Returns:
        A :class:`DBNPretrain`.
    """
    key = check_key("key", key)
    sizes = () if isinstance(hidden, int) else tuple(hidden)
    if not sizes:
        raise ValueError("`hidden` must be a non-empty sequence of layer sizes, e.g. (256, 256).")
    sizes = tuple(check_positive_int(f"hidden[{i}]", h) for i, h in enumerate(sizes))
    inputs = _visible("x", x, None, unit_range=not check_bool("gaussian", gaussian))
    rbms, errors = [], []
    for level, size in enumerate(sizes):
        fit = rbm_fit(
            inputs, size, key=jax.random.fold_in(key, level), optimizer=optimizer,
            epochs=epochs, batch_size=batch_size, k=k, persistent=persistent,
            gaussian=gaussian and level == 0, init_scale=init_scale,
        )  # fmt: skip
        rbms.append(fit.params)
        errors.append(fit.history["reconstruction_error"])
        inputs = _hidden_probs(fit.params, inputs)
    return DBNPretrain(tuple(rbms), tuple(errors))


def dbn_dense_params(rbms: Sequence[RBMParams]) -> tuple[DenseParams, ...]:
    """The hand-off: RBM ``(W, b, c)`` → ``DenseParams(w=W, b=c)``, bottom to top."""
    if isinstance(rbms, RBMParams) or not isinstance(rbms, Sequence) or not rbms:
        raise ValueError(
            f"`rbms` must be a non-empty sequence of RBMParams, bottom to top (e.g. "
            f"dbn_pretrain(...).rbms); got {rbms!r:.80}."
        )
    out = []
    for i, rbm in enumerate(rbms):
        if not isinstance(rbm, RBMParams):
            raise TypeError(f"`rbms[{i}]` must be RBMParams(w, b, c); got {type(rbm).__name__}.")
        if i and rbm.w.shape[0] != rbms[i - 1].w.shape[1]:
            raise ValueError(
                f"`rbms[{i}]` has {rbm.w.shape[0]} visible units but `rbms[{i - 1}]` has "
                f"{rbms[i - 1].w.shape[1]} hidden units; a stack must chain."
            )
        out.append(DenseParams(rbm.w, rbm.c))
    return tuple(out)


def dbn_classifier(
    rbms: Sequence[RBMParams],
    num_outputs: int,
    *,
    key: Any,
    dropout: Any = 0.0,
    input_dropout: Any = 0.0,
    activation: Any = activations.sigmoid,
) -> tuple[SerialLayer, tuple]:
    """An MLP initialised from a pretrained stack, ready for ``fnnet.fit``.

    The network is ``Dropout(input_dropout) → Dense(h₁, sigmoid) → Dropout → … →
    Dense(h_L, sigmoid) → Dropout → Dense(num_outputs)`` (logits: pair it with ``softmax_cross_entropy``); its hidden layers'
    parameters are :func:`dbn_dense_params` of ``rbms`` and the output layer is drawn with
    ``key`` (keyword-only). ``dropout`` is the fraction of hidden units zeroed while training,
    ``input_dropout`` that of the inputs (albertbup's DBN drops both at the same rate). ``activation``
    is the hidden units' function: ``sigmoid`` (default) computes exactly the RBMs' hidden
    probabilities; another (``relu``) reuses the weights as an initialisation only.

    Returns:
        ``(net, params)``; ``net.init(key, visible)`` gives the same network without pretraining.
    """
    key = check_key("key", key)
    num_outputs = check_positive_int("num_outputs", num_outputs)
    check_real("dropout", dropout, low=0.0, high=1.0, high_open=True)
    check_real("input_dropout", input_dropout, low=0.0, high=1.0, high_open=True)
    dense = dbn_dense_params(rbms)
    layers = [Dropout(input_dropout)]
    for p in dense:
        layers += [Dense(p.w.shape[1], activation, dtype=p.w.dtype), Dropout(dropout)]
    net = serial(*layers, Dense(num_outputs, dtype=dense[-1].w.dtype))
    params = list(net.init(key, dense[0].w.shape[0]))
    for i, p in enumerate(dense):
        params[1 + 2 * i] = p
    return net, tuple(params)
