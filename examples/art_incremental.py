"""Learning new classes without forgetting old ones: Fuzzy ARTMAP against an MLP.

The stability–plasticity dilemma. The digits are split into classes A = {0–4} and B = {5–9};
each learner sees A's training set, then only B's. A simplified Fuzzy ARTMAP (vigilance 0.7)
learns B in new categories and leaves A's alone; a 64-64-10 ReLU MLP trained the same way
(``fnnet.fit``, Adam, A's epochs then B's epochs) fits B by overwriting what it knew about A
(catastrophic forgetting). Prints both learners' test accuracy on A and on B after each phase and
writes ``art_incremental.png`` to ``--out``.

Run: ``python examples/art_incremental.py`` (``--quick`` for fewer MLP epochs).
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import activations, losses, optimizers
from fnnet import competitive as C


def accuracy(predicted, y) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(y)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer MLP epochs")
    parser.add_argument("--out", default="out", help="directory for art_incremental.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = jax.random.key(args.seed)
    d = fnnet.data.digits()  # pixels / 16: already in [0, 1] with the known bounds 0..16
    (x_train, y_train), (x_test, y_test) = fnnet.data.train_test_split(key, d.x, d.y)
    phases = {"A": lambda y: y < 5, "B": lambda y: y >= 5}
    train = {p: (x_train[f(y_train)], y_train[f(y_train)]) for p, f in phases.items()}
    test = {p: (x_test[f(y_test)], y_test[f(y_test)]) for p, f in phases.items()}

    artmap = C.fuzzy_artmap(rho=0.7, capacity=512)
    art_state = artmap.init(64)
    net = fnnet.serial(fnnet.Dense(64, activations.relu), fnnet.Dense(64, activations.relu),
                       fnnet.Dense(10))  # fmt: skip
    params = net.init(jax.random.fold_in(key, 1), 64)
    epochs = 5 if args.quick else 30
    results = {}
    for phase in ("A", "B"):
        x, y = train[phase]
        art_state, _ = C.train_art(artmap, art_state, x, y)
        fitted = fnnet.fit(net.apply, params, losses.softmax_cross_entropy, optimizers.adam(1e-3),
                           (x, y), key=jax.random.fold_in(key, 2), epochs=epochs, batch_size=32,
                           verbose=False)  # fmt: skip
        params = fitted.params
        for part in ("A", "B"):
            xs, ys = test[part]
            results["Fuzzy ARTMAP", phase, part] = accuracy(artmap.predict(art_state, xs), ys)
            results["MLP", phase, part] = accuracy(jnp.argmax(net.apply(params, xs), -1), ys)
        print(
            f"after training on {phase}: "
            + "  ".join(
                f"{learner} on A {results[learner, phase, 'A']:.3f} / B {results[learner, phase, 'B']:.3f}"
                for learner in ("Fuzzy ARTMAP", "MLP")
            )
            + f"  (ARTMAP categories: {int(C.num_categories(art_state))})"
        )
    os.makedirs(args.out, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, learner in zip(axes, ("Fuzzy ARTMAP", "MLP")):
        labels = ["after A", "after A, then B"]
        for offset, part, colour in [(-0.2, "A", "tab:blue"), (0.2, "B", "tab:orange")]:
            values = [results[learner, ph, part] for ph in ("A", "B")]
            bars = ax.bar(np.arange(2) + offset, values, 0.4, label=f"test accuracy on {part}",
                          color=colour)  # fmt: skip
            ax.bar_label(bars, fmt="%.2f")
        ax.set_xticks(range(2), labels)
        ax.set_title(learner)
        ax.set_ylim(0, 1.1)
    axes[0].set_ylabel("test accuracy")
    axes[1].legend(loc="center")
    fig.suptitle("digits: classes A = 0–4, then B = 5–9 only")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "art_incremental.png"), dpi=120)
    plt.close(fig)
    print(f"wrote {args.out}/art_incremental.png")
    return results


if __name__ == "__main__":
    main()
