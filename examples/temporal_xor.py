"""Elman's temporal XOR (Elman 1990, "Finding Structure in Time"): error falls on every third bit.

The input is a stream of bits built from triples ``(a, b, a XOR b)`` with ``a, b`` random; the
network reads one bit per step and predicts the next. The first two bits of every triple are
coin flips, so no predictor beats error ½ on them; the third is determined by the two before
it, so a network that carries the last two bits in its recurrent state can predict it. The
per-position error therefore dips on every third bit only, which is Elman's Figure 2 and a
cheap check that backpropagation through time carries information across steps.

Network: ``Elman(4)`` (tanh) and a per-step linear read-out with a sigmoid
(``fnnet.losses.sigmoid_binary_cross_entropy``), trained with Adam on random streams of 10
triples (BPTT over each whole stream). Prints the mean absolute error per position of a test
stream (12 positions, as Elman's figure, and averaged by phase) and writes
``temporal_xor.png`` to ``--out``.

Run: ``python examples/temporal_xor.py [--steps 1500] [--out out/]``; ``--quick`` trains 30 steps.
"""

from __future__ import annotations

import argparse
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import layers, losses, optimizers, recurrent

HIDDEN, TRIPLES, BATCH = 4, 10, 64


def stream(key, batch: int, triples: int) -> jax.Array:
    """Bits ``(batch, 3 · triples)``: triples ``(a, b, a XOR b)`` with ``a, b`` coin flips."""
    ab = jax.random.bernoulli(key, 0.5, (batch, triples, 2)).astype(jnp.int32)
    xor = ab[..., :1] ^ ab[..., 1:]
    return jnp.concatenate([ab, xor], axis=-1).reshape(batch, 3 * triples).astype(jnp.float32)


def model():
    rnn, readout = recurrent.Elman(HIDDEN), layers.Dense(1)

    def init(key):
        k1, k2 = jax.random.split(key)
        return rnn.init(k1, (BATCH, 3 * TRIPLES, 1)), readout.init(k2, HIDDEN)

    def logits(params, bits):
        """Logit of bit ``t + 1`` after reading bits ``0..t``: ``(batch, time − 1)``."""
        h = rnn.apply(params[0], bits[:, :-1, None])
        return readout.apply(params[1], h.reshape(-1, HIDDEN)).reshape(h.shape[:2])

    return init, logits


def main(argv=None) -> np.ndarray:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="30 steps (smoke test)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out"))
    args = parser.parse_args(argv)
    steps = 30 if args.quick else args.steps
    init, logits = model()
    optimizer = optimizers.adam(1e-2)
    key, data_key, test_key = jax.random.split(jax.random.key(args.seed), 3)

    def loss(params, bits):
        return losses.sigmoid_binary_cross_entropy(logits(params, bits), bits[:, 1:])

    @jax.jit
    def train(params):
        def step(carry, k):
            params, opt_state = carry
            value, grads = jax.value_and_grad(loss)(params, stream(k, BATCH, TRIPLES))
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optimizers.apply_updates(params, updates), opt_state), value

        keys = jax.random.split(data_key, steps)
        (params, _), history = jax.lax.scan(step, (params, optimizer.init(params)), keys)
        return params, history

    params, history = train(init(key))
    bits = stream(test_key, 1000, TRIPLES)
    p = jax.nn.sigmoid(logits(params, bits))
    error = np.asarray(jnp.mean(jnp.abs(p - bits[:, 1:]), axis=0))  # per predicted position
    positions = np.arange(1, 3 * TRIPLES)  # error[i] is the prediction of bit i + 1
    per_bit = history[-1] / (3 * TRIPLES - 1)  # the loss sums over the predicted positions
    print(f"temporal XOR, Elman({HIDDEN}), {steps} Adam steps; train loss {per_bit:.3f} per bit")
    print("mean |error| predicting bit t (t = 1..12; bit t is an XOR when t % 3 == 2):")
    print("  " + " ".join(f"{t:>5d}" for t in positions[:12]))
    print("  " + " ".join(f"{e:5.2f}" for e in error[:12]))
    by_phase = [error[(positions % 3) == r].mean() for r in (0, 1, 2)]
    print(
        f"by phase: first bit of a triple {by_phase[0]:.3f}, second {by_phase[1]:.3f}, "
        f"third (XOR) {by_phase[2]:.3f}"
    )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return error
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(positions[:12], error[:12], marker="o")
    for t in positions[:12][(positions[:12] % 3) == 2]:
        ax.axvline(t, color="0.85", zorder=0)
    ax.set(xlabel="position of the predicted bit (grey: the XOR bits)", ylabel="mean |error|")
    ax.set_title("Temporal XOR (Elman 1990): error falls on every third bit")
    ax.set_ylim(0, 0.6)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "temporal_xor.png", dpi=120)
    print(f"wrote {args.out / 'temporal_xor.png'}")
    return error


if __name__ == "__main__":
    main()
