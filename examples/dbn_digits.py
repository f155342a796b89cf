"""Deep belief net on digits: greedy RBM pretraining, hand-off to an MLP, fine-tuning; with and
without pretraining, three seeds, wall times.

Recipe (albertbup/deep-belief-network's README on scikit-learn digits): ``X/16``,
``train_test_split(test_size=0.2, random_state=0)`` (1,437 / 360); two hidden layers of 256;
CD-1 pretraining, 10 epochs per layer at learning rate 0.05; then fine-tuning with dropout 0.2
(on the inputs and on both hidden layers, as that implementation drops both) and batch 32.
fnnet's choices where the recipe leaves them open: RBM batch 10 and initial weights
N(0, 0.1²); sigmoid hidden units (the RBMs' own hidden probabilities); fine-tuning by
``fnnet.fit`` with Adam 1e-3 for ``--epochs`` epochs. "Without" is the same network from
``net.init`` (Glorot), trained identically.

Run: ``python examples/dbn_digits.py [--epochs 300] [--seeds 3]``
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import boltzmann, losses, optimizers


def data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x / 16.0, y, test_size=0.2, random_state=0)
    f, i = (lambda a: jnp.asarray(a, jnp.float32)), (lambda a: jnp.asarray(a, jnp.int32))
    return f(xtr), f(xte), i(ytr), i(yte)


def run(seed: int, epochs: int, xtr, xte, ytr, yte) -> dict:
    key = jax.random.key(seed)
    tic = time.perf_counter()
    pre = boltzmann.dbn_pretrain(
        xtr, (256, 256), key=key, optimizer=optimizers.sgd(0.05), epochs=10, batch_size=10,
        init_scale=0.1,
    )  # fmt: skip
    pretrain_s = time.perf_counter() - tic
    net, params = boltzmann.dbn_classifier(
        pre.rbms, 10, key=jax.random.fold_in(key, 1), dropout=0.2, input_dropout=0.2
    )
    out = {"pretrain_s": pretrain_s}
    for name, p in (("with", params), ("without", net.init(jax.random.fold_in(key, 1), 64))):
        tic = time.perf_counter()
        fit = fnnet.fit(
            net.apply, p, losses.softmax_cross_entropy, optimizers.adam(1e-3), (xtr, ytr),
            key=jax.random.fold_in(key, 2), epochs=epochs, batch_size=32, verbose=False,
        )  # fmt: skip
        out[f"{name}_s"] = time.perf_counter() - tic
        out[name] = float(jnp.mean(jnp.argmax(net.apply(fit.params, xte), -1) == yte))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    split = data()
    rows = []
    for seed in range(args.seeds):
        row = run(seed, args.epochs, *split)
        rows.append(row)
        print(
            f"seed {seed}: with pretraining {row['with']:.4f} (pretrain {row['pretrain_s']:.1f} s"
            f" + fine-tune {row['with_s']:.1f} s), without {row['without']:.4f} "
            f"({row['without_s']:.1f} s)",
            flush=True,
        )
    for name in ("with", "without"):
        accs = [r[name] for r in rows]
        print(f"{name} pretraining: mean {np.mean(accs):.4f} over seeds {list(range(args.seeds))}")
    print("reference (NumPy DBN, albertbup): 0.9917 with, 0.9806 without, 50-110 s a run")


if __name__ == "__main__":
    main()
