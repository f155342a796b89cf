"""The classic 2-2-2 sigmoid network, backpropagated by hand and checked against jax.grad.

Inputs (0.05, 0.10), targets (0.01, 0.99); weights w1..w8 = 0.15 … 0.55, hidden bias 0.35,
output bias 0.60, learning rate 0.5, error E = Σ ½(t − o)². The textbook walks through one
forward pass, every ∂E/∂w from the δ rule, one gradient-descent update of the eight weights,
and the error after 1 and after 10,000 updates with the biases held fixed. This script does the
same with fnnet's whole-network rule (``fnnet.networks.mlp_loss``), in float64, and prints
``jax.grad`` of a plain forward beside each derivative.

Run: ``python examples/worked_example.py``
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import fnnet
from fnnet.layers import DenseParams

LEARNING_RATE = 0.5
NAMES = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"]


def initial_params() -> tuple[DenseParams, DenseParams]:
    """W[i, j] carries unit i of the layer below into unit j: w1, w2 feed h1; w3, w4 feed h2."""
    w1, w2, w3, w4, w5, w6, w7, w8 = 0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55
    hidden = DenseParams(jnp.array([[w1, w3], [w2, w4]]), jnp.array([0.35, 0.35]))
    output = DenseParams(jnp.array([[w5, w7], [w6, w8]]), jnp.array([0.60, 0.60]))
    return hidden, output


def weights(params) -> list[float]:
    """The eight weights in the textbook's order w1..w8."""
    (w_h, _), (w_o, _) = params
    return [float(v) for v in (w_h[0, 0], w_h[1, 0], w_h[0, 1], w_h[1, 1], w_o[0, 0], w_o[1, 0], w_o[0, 1], w_o[1, 1])]


X = [[0.05, 0.10]]
Y = [[0.01, 0.99]]
NET = fnnet.MLP((2, 2), activation=fnnet.activations.sigmoid, output_activation=fnnet.activations.sigmoid, dtype=jnp.float64)


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


def main() -> None:
    with jax.enable_x64(True):
        r = run()
    print("forward pass")
    print(f"  out_h1 = {r['hidden'][0]:.9f}   out_h2 = {r['hidden'][1]:.9f}")
    print(f"  out_o1 = {r['output'][0]:.9f}   out_o2 = {r['output'][1]:.9f}")
    print(f"  E = {r['error']:.9f}")
    print("\n  ∂E/∂w     δ rule (fnnet)     jax.grad          |difference|   w after one update")
    for name, d, j, w in zip(NAMES, r["grad_delta_rule"], r["grad_jax"], r["weights_after_one"]):
        print(f"  {name:<8} {d: .12f}  {j: .12f}  {abs(d - j):.1e}        {w:.9f}")
    print(f"\nE after 1 update:       {r['error_after_one']:.9f}")
    print(f"E after 10,000 updates: {r['error_after_many']:.10f}")
    o1, o2 = r["output_after_many"]
    print(f"outputs then: {o1:.9f} (target 0.01), {o2:.9f} (target 0.99)")


if __name__ == "__main__":
    main()
