"""The classic 2-2-2 sigmoid network, backpropagated by hand and checked against jax.grad.

Inputs (0.05, 0.10), targets (0.01, 0.99); weights w1..w8 = 0.15 … 0.55, hidden bias 0.35,
output bias 0.60, learning rate 0.5, error E = Σ ½(t − o)². The textbook walks through one
forward pass, every ∂E/∂w from the δ rule, one gradient-descent update of the eight weights,
and the error after 1 and after 10,000 updates with the biases held fixed. This script does the
same with fnnet's whole-network rule (``fnnet.networks.mlp_loss``), in float64, and prints the
published figures (``PUBLISHED``) beside fnnet's, and ``jax.grad`` of a plain forward beside each
derivative, so the agreement can be checked by eye.

Run: ``python examples/worked_example.py``
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet.layers import DenseParams

LEARNING_RATE = 0.5
NAMES = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"]
INITIAL_WEIGHTS = [0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55]

# The figures as the walk-through prints them (M. Mazur, "A Step by Step Backpropagation
# Example", 2015), with their digits. It prints ∂E/∂w for w1 and w5 only; the other six
# follow from its updated weights as (w − w⁺)/η (see ``published_gradients``). Its errors after
# training were computed from rounded intermediate values, so they agree less closely.
PUBLISHED = {
    "hidden": [0.593269992, 0.596884378],
    "output": [0.75136507, 0.772928465],
    "error": 0.298371109,
    "grad": {"w1": 0.000438568, "w5": 0.082167041},
    "weights_after_one": [
        0.149780716, 0.19956143, 0.24975114, 0.29950229,
        0.35891648, 0.408666186, 0.511301270, 0.561370121,
    ],
    "error_after_one": 0.291027924,
    "error_after_many": 0.0000351085,
    "output_after_many": [0.015912196, 0.984065734],
}  # fmt: skip


def initial_params() -> tuple[DenseParams, DenseParams]:
    """W[i, j] carries unit i of the layer below into unit j: w1, w2 feed h1; w3, w4 feed h2."""
    w1, w2, w3, w4, w5, w6, w7, w8 = INITIAL_WEIGHTS
    hidden = DenseParams(jnp.array([[w1, w3], [w2, w4]]), jnp.array([0.35, 0.35]))
    output = DenseParams(jnp.array([[w5, w7], [w6, w8]]), jnp.array([0.60, 0.60]))
    return hidden, output


def published_gradients() -> list[tuple[float, bool]]:
    """``(∂E/∂w, printed)`` for w1..w8: printed by the walk-through, or (w − w⁺)/η from its w⁺."""
    return [
        (PUBLISHED["grad"][name], True)
        if name in PUBLISHED["grad"]
        else (round((w - w_new) / LEARNING_RATE, 9), False)  # w⁺ has 8-9 decimals
        for name, w, w_new in zip(NAMES, INITIAL_WEIGHTS, PUBLISHED["weights_after_one"])
    ]


def weights(params) -> list[float]:
    """The eight weights in the textbook's order w1..w8."""
    (w_h, _), (w_o, _) = params
    return [
        float(v)
        for v in (
            w_h[0, 0],
            w_h[1, 0],
            w_h[0, 1],
            w_h[1, 1],
            w_o[0, 0],
            w_o[1, 0],
            w_o[0, 1],
            w_o[1, 1],
        )
    ]


X = [[0.05, 0.10]]
Y = [[0.01, 0.99]]
NET = fnnet.MLP(
    (2, 2),
    activation=fnnet.activations.sigmoid,
    output_activation=fnnet.activations.sigmoid,
    dtype=jnp.float64,
)


def error(params, x, y):
    """E = Σ ½(t − o)² through fnnet's hand-written whole-network rule (batch of one)."""
    return NET.loss(params, x, y, fnnet.losses.squared_error)


def reference_error(params, x, y):
    """The same E written as plain jnp, for jax.grad to differentiate independently."""
    (w_h, b_h), (w_o, b_o) = params
    h = 1.0 / (1.0 + jnp.exp(-(x @ w_h + b_h)))
    o = 1.0 / (1.0 + jnp.exp(-(h @ w_o + b_o)))
    return jnp.sum(0.5 * (y - o) ** 2)


@jax.jit
def update(params, x, y):
    """One gradient-descent step on the weights; the biases are held fixed, as in the textbook."""
    grads = jax.grad(error)(params, x, y)
    return tuple(DenseParams(p.w - LEARNING_RATE * g.w, p.b) for p, g in zip(params, grads))


def train(params, x, y, steps: int):
    return jax.lax.fori_loop(0, steps, lambda _, p: update(p, x, y), params)


def run(steps: int = 10_000) -> dict:
    """Everything the textbook prints, as numbers."""
    x, y = jnp.array(X), jnp.array(Y)
    params = initial_params()
    (w_h, b_h), (w_o, b_o) = params
    hidden = fnnet.activations.sigmoid(x @ w_h + b_h)
    output = NET.apply(params, x)
    hand = jax.grad(error)(params, x, y)
    plain = jax.grad(reference_error)(params, x, y)
    after_one = update(params, x, y)
    after_many = train(params, x, y, steps)
    return {
        "hidden": [float(v) for v in hidden[0]],
        "output": [float(v) for v in output[0]],
        "error": float(error(params, x, y)),
        "grad_delta_rule": weights(hand),
        "grad_jax": weights(plain),
        "weights_after_one": weights(after_one),
        "error_after_one": float(error(after_one, x, y)),
        "error_after_many": float(error(after_many, x, y)),
        "output_after_many": [float(v) for v in NET.apply(after_many, x)[0]],
    }


def _row(name: str, published: float, fnnet_value: float, more: str = "") -> str:
    shown = np.format_float_positional(published)  # as many digits as published, no more
    return f"  {name:<8}{shown:>14}{fnnet_value:>18.12f}{more}{abs(fnnet_value - published):>10.1e}"


def _header(title: str, more: str = "") -> None:
    print(f"\n{title}\n  {'':<8}{'published':>14}{'fnnet':>18}{more}{'|diff|':>10}")


def main() -> None:
    with jax.enable_x64(True):
        r = run()
    p = PUBLISHED
    _header("forward pass and error E")
    for i, name in enumerate(("out_h1", "out_h2")):
        print(_row(name, p["hidden"][i], r["hidden"][i]))
    for i, name in enumerate(("out_o1", "out_o2")):
        print(_row(name, p["output"][i], r["output"][i]))
    print(_row("E", p["error"], r["error"]))
    _header("∂E/∂w (fnnet: the δ rule; |diff| is fnnet − published)", f"{'jax.grad':>18}")
    for name, (published, printed), d, j in zip(
        NAMES, published_gradients(), r["grad_delta_rule"], r["grad_jax"]
    ):
        print(_row(name if printed else name + " *", published, d, f"{j:>18.12f}"))
    print("  * not printed in the walk-through: (w − w⁺)/η from its updated weight w⁺")
    gap = max(abs(d - j) for d, j in zip(r["grad_delta_rule"], r["grad_jax"]))
    print(f"  largest |δ rule − jax.grad|: {gap:.1e}")
    _header("weights after one update")
    for name, published, w in zip(NAMES, p["weights_after_one"], r["weights_after_one"]):
        print(_row(name, published, w))
    _header("after training (the walk-through rounded its intermediate values)")
    print(_row("E, 1", p["error_after_one"], r["error_after_one"]))
    print(_row("E, 10k", p["error_after_many"], r["error_after_many"]))
    for i, name in enumerate(("out_o1", "out_o2")):
        print(_row(name, p["output_after_many"][i], r["output_after_many"][i]))


if __name__ == "__main__":
    main()
