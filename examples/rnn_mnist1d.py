"""MNIST-1D with a bidirectional GRU (LSTM, Elman), the authors' recipe, several seeds at once.

Greydanus & Kobak's ``GRUBase``: each 40-sample signal is a sequence of 40 steps × 1 feature;
a bidirectional GRU with 6 hidden units per direction returns all 40 outputs ``(batch, 40, 12)``,
flattened to 480 and mapped by a linear layer to 10 logits (5,134 parameters, as PyTorch).
Adam 1e-2, batches of 100 taken in order (``(step · 100) mod 4000``, no shuffling), 6,000
steps, PyTorch's default initialisation (U(±1/√6) for the GRU, U(±1/√480) for the linear layer),
test accuracy after the last step. Paper 91 %; the authors' reruns 91.1 % and 89.1 %.

``--model lstm`` (5,242 parameters) and ``--model elman`` (4,918) swap the cell; ``--shuffled``
applies one fixed random permutation to the 40 positions of every signal (train and test): the
order is gone, so accuracy should fall to the published ≈ 53–57 %. The seeds train together,
``vmap``ped inside one compiled ``lax.scan`` over the steps.

Run: ``python examples/rnn_mnist1d.py [--model gru|lstm|elman] [--seeds 0 1 2 3 4]
[--steps 6000] [--shuffled] [--out out/]``; ``--quick`` trains 50 steps (smoke test).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import initializers, layers, losses, optimizers, recurrent

CELLS = {"gru": recurrent.GRU, "lstm": recurrent.LSTM, "elman": recurrent.Elman}
HIDDEN, LENGTH, BATCH, LEARNING_RATE = 6, 40, 100, 1e-2


def build(model: str, hidden: int = HIDDEN) -> fnnet.layers.Layer:
    """The authors' ``GRUBase`` with ``model``'s cell: BiRNN → flatten (40 · 2H) → linear 10."""
    linear_init = initializers.uniform(1.0 / math.sqrt(LENGTH * 2 * hidden))  # PyTorch's Linear
    return layers.serial(
        recurrent.Bidirectional(CELLS[model](hidden)),  # default init: PyTorch's U(±1/√hidden)
        layers.Flatten(2),
        layers.Dense(10, w_init=linear_init, b_init=linear_init),
    )


def load(shuffled: bool, seed: int = 0):
    """MNIST-1D as ``(n, 40, 1)`` sequences; ``shuffled`` permutes the positions (fixed order)."""
    split = fnnet.data.mnist1d()
    x, x_test = np.asarray(split.train.x), np.asarray(split.test.x)
    if shuffled:
        order = np.random.default_rng(seed).permutation(LENGTH)
        x, x_test = x[:, order], x_test[:, order]
    return (
        (jnp.asarray(x[..., None]), split.train.y),
        (jnp.asarray(x_test[..., None]), split.test.y),
    )


def train(model: str, seeds, steps: int, data):
    """Train one network per seed (vmapped); returns the test accuracies and the wall time."""
    (x, y), (x_test, y_test) = data
    net = build(model)
    optimizer = optimizers.adam(LEARNING_RATE)
    batches = x.shape[0] // BATCH

    def loss(params, xb, yb):
        return losses.softmax_cross_entropy(net.apply(params, xb), yb)

    def one_seed(key):
        params = net.init(key, (BATCH, LENGTH, 1))

        def step(carry, i):
            params, opt_state = carry
            start = (i % batches) * BATCH  # in order, as the authors: (step · 100) mod 4000
            xb = jax.lax.dynamic_slice_in_dim(x, start, BATCH)
            yb = jax.lax.dynamic_slice_in_dim(y, start, BATCH)
            value, grads = jax.value_and_grad(loss)(params, xb, yb)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optimizers.apply_updates(params, updates), opt_state), value

        (params, _), history = jax.lax.scan(
            step, (params, optimizer.init(params)), jnp.arange(steps)
        )
        logits = net.apply(params, x_test)
        return jnp.mean(jnp.argmax(logits, axis=-1) == y_test), history

    keys = jnp.stack([jax.random.key(s) for s in seeds])
    run = jax.jit(jax.vmap(one_seed))
    started = time.perf_counter()
    compiled = run.lower(keys).compile()
    compile_s = time.perf_counter() - started
    accuracy, history = jax.block_until_ready(compiled(keys))
    return np.asarray(accuracy), np.asarray(history), compile_s, time.perf_counter() - started


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(CELLS), default="gru")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--shuffled", action="store_true")
    parser.add_argument("--quick", action="store_true", help="50 steps, 2 seeds (smoke test)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out"))
    args = parser.parse_args(argv)
    seeds, steps = (args.seeds[:2], 50) if args.quick else (args.seeds, args.steps)
    net = build(args.model)
    count = sum(
        leaf.size
        for leaf in jax.tree_util.tree_leaves(net.init(jax.random.key(0), (BATCH, LENGTH, 1)))
    )
    accuracy, history, compile_s, wall_s = train(args.model, seeds, steps, load(args.shuffled))
    label = f"bidirectional {args.model}" + (" (shuffled positions)" if args.shuffled else "")
    print(f"MNIST-1D {label}: {count:,} parameters, {steps} steps, seeds {seeds}")
    for seed, acc, h in zip(seeds, accuracy, history):
        print(f"  seed {seed}: test accuracy {100 * acc:.1f} %  (final train loss {h[-1]:.3f})")
    print(
        f"  mean {100 * accuracy.mean():.1f} % ± {100 * accuracy.std():.1f} (std over seeds); "
        f"compile {compile_s:.1f} s, total {wall_s:.1f} s for {len(seeds)} seeds together"
    )
    result = {
        "model": args.model,
        "shuffled": args.shuffled,
        "parameters": int(count),
        "steps": steps,
        "seeds": list(seeds),
        "accuracy": [float(a) for a in accuracy],
        "mean": float(accuracy.mean()),
        "compile_s": compile_s,
        "wall_s": wall_s,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"rnn_mnist1d_{args.model}{'_shuffled' if args.shuffled else ''}.json"
    (args.out / name).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
