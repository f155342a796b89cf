"""Vanishing gradients through time: ‖δh_t‖ per step for Elman, LSTM and GRU on the adding task.

The adding problem (Hochreiter & Schmidhuber 1997): each of ``T`` steps carries a value
``u_t ~ U(0, 1)`` and a marker; exactly two steps are marked, one in the first half, one in
the second, and the target, read from the last output only, is the sum of the two marked
values. Predicting the mean (1) scores the variance of the sum, MSE ≈ 0.167; beating it needs
the first marked value carried across up to ``T`` steps.

With the loss at the last step only, ``δh_t = ∂L/∂h_t`` is the gradient the recurrent chain
carries back to step ``t``; its norm per step comes from each layer's own backward pass
(``RecurrentLayer.deltas``, the same reverse scan its BPTT rule runs). For the Elman network
it decays geometrically with the distance ``T − t`` (``δh_{t−1} = (δh_t ⊙ f'(ā_t)) W_hhᵀ``);
the LSTM's cell path ``δc_{t−1} = δc_t ⊙ f_t`` and the GRU's ``δh_t ⊙ z`` can carry it
further once the gates learn to (at PyTorch's initialisation the LSTM's forget gate is about
σ(0) = ½, so it is also run with ``forget_bias=1``).
The example measures ``‖δh_t‖`` at initialisation and after training each cell with Adam, prints
the ratio ``‖δh_1‖ / ‖δh_T‖`` and the test MSE, and plots ``log ‖δh_t‖`` against ``t``
(``rnn_gradients_through_time.png`` in ``--out``).

Run: ``python examples/rnn_gradients_through_time.py [--time 100] [--steps 2000] [--out out/]``;
``--quick`` uses 20 steps of 30-step sequences.
"""

from __future__ import annotations

import argparse
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import layers, losses, optimizers, recurrent

HIDDEN, BATCH = 32, 64
CELLS = {
    "elman": recurrent.Elman,
    "lstm": recurrent.LSTM,  # forget bias 0, as PyTorch: at init f ≈ σ(0) = ½ per step
    "lstm, forget bias 1": functools.partial(recurrent.LSTM, forget_bias=1.0),
    "gru": recurrent.GRU,
}


def adding_task(key, batch: int, time: int):
    """Inputs ``(batch, time, 2)`` (value, marker) and targets ``(batch, 1)``."""
    k_values, k_first, k_second = jax.random.split(key, 3)
    values = jax.random.uniform(k_values, (batch, time))
    first = jax.random.randint(k_first, (batch,), 0, time // 2)
    second = jax.random.randint(k_second, (batch,), time // 2, time)
    steps = jnp.arange(time)[None, :]
    marker = ((steps == first[:, None]) | (steps == second[:, None])).astype(jnp.float32)
    target = jnp.sum(values * marker, axis=1, keepdims=True)
    return jnp.stack([values, marker], axis=-1), target


def run_cell(name: str, *, time: int, steps: int, seed: int):
    """Train one cell; ``(‖δh_t‖ at init, ‖δh_t‖ trained, test MSE, train loss history)``."""
    rnn, readout = CELLS[name](HIDDEN), layers.Dense(1)
    key, data_key, probe_key, test_key = jax.random.split(jax.random.key(seed), 4)
    k1, k2 = jax.random.split(key)
    params = (rnn.init(k1, (BATCH, time, 2)), readout.init(k2, HIDDEN))
    optimizer = optimizers.adam(3e-3)

    def head(readout_params, outputs, y):  # the loss reads the last step only
        return losses.squared_error(readout.apply(readout_params, outputs[:, -1]), y)

    def loss(params, x, y):
        return head(params[1], rnn.apply(params[0], x), y)

    def delta_norms(params, x, y):
        dy = jax.grad(head, argnums=1)(params[1], rnn.apply(params[0], x), y)  # ∂L/∂outputs
        return recurrent.delta_norms(rnn.deltas(params[0], x, dy))

    @jax.jit
    def train(params):
        def step(carry, k):
            params, opt_state = carry
            value, grads = jax.value_and_grad(loss)(params, *adding_task(k, BATCH, time))
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optimizers.apply_updates(params, updates), opt_state), value

        keys = jax.random.split(data_key, steps)
        (params, _), history = jax.lax.scan(step, (params, optimizer.init(params)), keys)
        return params, history

    probe = adding_task(probe_key, 256, time)
    before = np.asarray(jax.jit(delta_norms)(params, *probe))
    params, history = train(params)
    after = np.asarray(jax.jit(delta_norms)(params, *probe))
    x_test, y_test = adding_task(test_key, 1000, time)
    prediction = readout.apply(params[1], rnn.apply(params[0], x_test)[:, -1])
    return before, after, float(jnp.mean((prediction - y_test) ** 2)), np.asarray(history)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="20 steps, T = 30 (smoke test)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out"))
    args = parser.parse_args(argv)
    time, steps = (30, 20) if args.quick else (args.time, args.steps)
    results = {}
    print(f"adding task, T = {time}, hidden {HIDDEN}, {steps} Adam steps (baseline MSE 0.167)")
    print(f"{'cell':20s} {'log10 ‖δh_1‖/‖δh_T‖: init':>26s} {'trained':>8s} {'test MSE':>9s}")
    for name in CELLS:
        before, after, mse, history = run_cell(name, time=time, steps=steps, seed=args.seed)
        results[name] = (before, after, mse)
        decay = [np.log10(d[0] / d[-1]) for d in (before, after)]
        print(f"{name:20s} {decay[0]:26.1f} {decay[1]:8.1f} {mse:9.4f}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return results
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    for name, (before, after, mse) in results.items():
        axes[0].semilogy(np.arange(1, time + 1), before, label=name)
        axes[1].semilogy(np.arange(1, time + 1), after, label=f"{name} (test MSE {mse:.3f})")
    axes[0].set_title("at initialisation")
    axes[1].set_title(f"after {steps} Adam steps")
    for ax in axes:
        ax.set_xlabel("time step t (loss at t = T)")
        ax.legend()
    axes[0].set_ylabel("mean ‖δh_t‖ = ‖∂L/∂h_t‖")
    fig.suptitle(f"Gradients through time, adding task T = {time}")
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "rnn_gradients_through_time.png", dpi=120)
    print(f"wrote {args.out / 'rnn_gradients_through_time.png'}")
    return results


if __name__ == "__main__":
    main()
