"""A learning rate × weight decay × seeds sweep on the digits, as one compiled program.

Every member is a 64-64-10 ReLU network trained with AdamW (decoupled weight decay) and early
stopping on a validation split; all members train together in one ``vmap``-ped, ``jit``-ed
program (``fnnet.sweep.run``). Writes a heatmap of the validation accuracy (mean over seeds) to
``--out`` (``fnnet.sweep.heatmap``), prints the results table (mean ± std over seeds), the
best configuration by its seeds' mean (``fnnet.sweep.best_configuration``), the sweep's wall
time next to one member trained alone, and the test accuracy of the best configuration's seeds
as an ensemble (their parameters come with the result: nothing is retrained).

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
    result = sweep.run(trainer, space, key, seeds=seeds, metric="val_accuracy", maximize=True)
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

    # Which configuration? The seeds' mean validation accuracy decides; its seeds come with it.
    best = sweep.best_configuration(result, "val_accuracy", maximize=True)
    print(
        f"{members} members ({len(rates)} learning rates x {len(decays)} weight decays x {seeds} seeds), "
        f"{epochs} epochs max, early stopping patience 5"
    )
    print(
        sweep.table(result, ["val_accuracy", "epochs_run"], sort_by="val_accuracy", maximize=True)
    )
    chosen = " ".join(f"{k}={v:g}" for k, v in best.hparams.items())
    print(
        f"best configuration (mean over seeds): {chosen} "
        f"val_accuracy={best.value:.4f} +- {best.values.std():.4f}"
    )
    member = " ".join(f"{k}={v:g}" for k, v in result.best.hparams.items())
    print(f"best member: {member} seed {result.best.seed} val_accuracy={result.best.value:.4f}")
    print(
        f"sweep wall time: {result.seconds:.2f} s total ({result.compile_seconds:.2f} s compile, "
        f"{result.seconds - result.compile_seconds:.2f} s running) = "
        f"{(result.seconds - result.compile_seconds) / members * 1e3:.1f} ms per member"
    )
    print(
        f"one member alone: {alone_compile + alone_run:.2f} s total ({alone_compile:.2f} s compile, "
        f"{alone_run * 1e3:.1f} ms running); {members} sequential runs would take ~{alone_run * members:.2f} s running"
    )

    # The best configuration's seeds were trained together: they are an ensemble already.
    scores = sweep.evaluate_ensemble(net.apply, best.params, *test)
    print(
        f"ensemble of the {seeds} seeds on the test set: accuracy {float(scores.accuracy):.4f} "
        f"(members {float(scores.member_accuracy.mean()):.4f} on average), nll {float(scores.nll):.4f}"
    )

    import matplotlib

    matplotlib.use("Agg")
    ax = sweep.heatmap(result, "val_accuracy", x="weight_decay", y="learning_rate", maximize=True)
    ax.set_title("digits: validation accuracy, mean over seeds")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "sweep_heatmap.png")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
