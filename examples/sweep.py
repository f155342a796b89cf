"""A learning rate × weight decay × seeds sweep on the digits, as one compiled program.

Every member is a 64-64-10 ReLU network trained with AdamW (decoupled weight decay) and early
stopping on a validation split; all members train together in one ``vmap``-ped, ``jit``-ed
program (``fnnet.sweep.run``). Writes a heatmap of the validation accuracy (mean over seeds) to
``--out``, prints the best configuration, the sweep's wall time next to one member trained
alone, and the test accuracy of the best configuration's seeds as an ensemble.

Run: ``python examples/sweep.py`` (``--quick`` for a seconds-long smoke run).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import activations, losses, optimizers, sweep


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny grid and few epochs (smoke test)"
    )
    parser.add_argument(
        "--out", default="out", help="directory for sweep_heatmap.png (default out/)"
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds per configuration")
    args = parser.parse_args(argv)

    key = jax.random.key(0)
    digits = fnnet.data.digits()
    x, y = (digits.x[:600], digits.y[:600]) if args.quick else (digits.x, digits.y)
    (x_fit, y_fit), test = fnnet.data.train_test_split(
        jax.random.fold_in(key, 1), x, y, test_fraction=0.2
    )
    train, validation = fnnet.data.train_test_split(
        jax.random.fold_in(key, 2), x_fit, y_fit, test_fraction=0.25
    )
    if args.quick:
        rates, decays, seeds, epochs = [1e-3, 1e-2, 1e-1], [0.0, 1e-1], 2, 3
    else:
        rates, decays, seeds, epochs = (
            [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
            [0.0, 1e-3, 1e-2, 1e-1, 1.0],
            4,
            40,
        )
    seeds = args.seeds or seeds

    net = fnnet.serial(fnnet.Dense(64, activations.relu), fnnet.Dense(10))
    trainer = sweep.make_trainer(
        net,
        losses.softmax_cross_entropy,
        lambda hp: optimizers.adamw(hp["learning_rate"], weight_decay=hp["weight_decay"]),
        train,
        epochs=epochs,
        batch_size=64,
        validation=validation,
        patience=5,
    )
    space = sweep.grid(learning_rate=rates, weight_decay=decays)
    result = sweep.run(
        trainer, space, key, seeds=seeds, keep_params=True, metric="val_accuracy", maximize=True
    )
    members = int(np.prod(result.metrics["val_accuracy"].shape))

    # The same training function, one member alone: compiled on its own, then timed.
    best_hp = {k: jnp.asarray(v, jnp.float32) for k, v in result.best.hparams.items()}
    alone = jax.jit(trainer.run)
    tic = time.perf_counter()
    compiled = alone.lower(best_hp, sweep.member_key(key, 0), trainer.data).compile()
    alone_compile = time.perf_counter() - tic
    tic = time.perf_counter()
    jax.block_until_ready(compiled(best_hp, sweep.member_key(key, 0), trainer.data))
    alone_run = time.perf_counter() - tic

    mean_acc = result.metrics["val_accuracy"].mean(axis=-1)  # (rates, decays)
    i, j = np.unravel_index(np.argmax(mean_acc), mean_acc.shape)
    print(
        f"{members} members ({len(rates)} learning rates x {len(decays)} weight decays x {seeds} seeds), "
        f"{epochs} epochs max, early stopping patience 5"
    )
    print(
        f"best configuration (mean over seeds): learning_rate={rates[i]:g} weight_decay={decays[j]:g} "
        f"val_accuracy={mean_acc[i, j]:.4f} +- {result.metrics['val_accuracy'][i, j].std():.4f}"
    )
    best = " ".join(f"{k}={v:g}" for k, v in result.best.hparams.items())
    print(f"best member: {best} seed {result.best.seed} val_accuracy={result.best.value:.4f}")
    print(
        f"epochs run per member: min {result.metrics['epochs_run'].min()} max {result.metrics['epochs_run'].max()}"
    )
    print(
        f"sweep wall time: {result.seconds:.2f} s total ({result.compile_seconds:.2f} s compile, "
        f"{result.seconds - result.compile_seconds:.2f} s running) = "
        f"{(result.seconds - result.compile_seconds) / members * 1e3:.1f} ms per member"
    )
    print(
        f"one member alone: {alone_compile + alone_run:.2f} s total ({alone_compile:.2f} s compile, "
        f"{alone_run * 1e3:.1f} ms running); {members} sequential runs would take ~{alone_run * members:.2f} s running"
    )

    # The seeds at the best configuration were trained together: they are an ensemble already.
    ensemble = jax.tree_util.tree_map(lambda a: a[i, j], result.params)
    scores = sweep.evaluate_ensemble(net.apply, ensemble, *test)
    print(
        f"ensemble of the {seeds} seeds on the test set: accuracy {float(scores.accuracy):.4f} "
        f"(members {float(scores.member_accuracy.mean()):.4f} on average), nll {float(scores.nll):.4f}"
    )

    path = heatmap(mean_acc, rates, decays, (i, j), args.out)
    print(f"wrote {path}")


def heatmap(
    values: np.ndarray, rates: list[float], decays: list[float], best: tuple[int, int], out: str
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out, exist_ok=True)
    fig, ax = plt.subplots(figsize=(1.2 * len(decays) + 2.5, 0.6 * len(rates) + 2))
    image = ax.imshow(
        values, cmap="viridis", vmin=max(0.0, float(values.min())), vmax=1.0, aspect="auto"
    )
    for (r, c), v in np.ndenumerate(values):
        ax.text(
            c,
            r,
            f"{v:.3f}",
            ha="center",
            va="center",
            color="white" if v < values.max() - 0.15 else "black",
            fontweight="bold" if (r, c) == tuple(best) else "normal",
            fontsize=8,
        )
    r, c = best
    ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xticks(range(len(decays)), [f"{d:g}" for d in decays])
    ax.set_yticks(range(len(rates)), [f"{r:g}" for r in rates])
    ax.set_xlabel("weight decay (AdamW)")
    ax.set_ylabel("learning rate")
    ax.set_title("digits: validation accuracy, mean over seeds")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    path = os.path.join(out, "sweep_heatmap.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
