"""How closely a sweep member reproduces the same run trained alone (docs/sweeps.md, issue 24).

A sweep member is ``trainer.run(hparams, member_key(key, s), trainer.data)`` vmapped with the
other members; alone, it is the same function compiled on its own (or ``fit`` with the member's
keys). The two compute the same math, but XLA may order the sums of a vmapped matmul or
convolution differently, and training amplifies those last-bit differences. This script measures
by how much, for two models:

* ``mlp``: the 64-128-128-10 ReLU MLP on the digits, Adam 1e-3, 200 steps (issue 21's case);
* ``cnn``: the CNN of ``docs/conv.md`` on MNIST-1D, AdamW (weight decay 1e-2), batch 100,
  12 epochs, at learning rates 1e-3 and 3e-2 (issue 24's case).

For each learning rate it compares the member of a 2-member grid sweep (both learning rates,
one seed), the member of a 1-member ``sweep.point`` and ``fnnet.fit`` with the member's keys
against ``jax.jit(trainer.run)`` alone: the largest parameter difference relative to the
largest parameter of its leaf (``max``), the relative L2 distance of all parameters (``l2``),
and the validation accuracy. The control: ``fit`` from initial parameters one ulp away
(``jnp.nextafter``) against ``fit``, the sensitivity of the training itself.

Run: ``python benchmarks/sweep_reproduce.py [--model mlp|cnn|both] [--epochs N]``.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import activations, losses, optimizers, sweep
from fnnet.layers import Conv, Flatten, MaxPool

KEY = jax.random.key(0)


def _relative(a, b) -> dict[str, float]:
    """``max``: the largest over leaves of max |a - b| / max |b|; ``l2``: ||a - b|| / ||b||
    over all parameters together."""
    worst, diff, norm = 0.0, 0.0, 0.0
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        worst = max(worst, float(np.max(np.abs(u - v)) / max(np.max(np.abs(v)), 1e-30)))
        diff, norm = diff + float(np.sum((u - v) ** 2)), norm + float(np.sum(v**2))
    return {"max": float(f"{worst:.2g}"), "l2": float(f"{np.sqrt(diff / norm):.2g}")}


def _member(tree, index):
    return jax.tree_util.tree_map(lambda a: a[index], tree)


def setup(model: str, epochs: int):
    if model == "mlp":
        digits = fnnet.data.digits()
        train, val = fnnet.data.train_test_split(KEY, digits.x, digits.y, test_fraction=0.3)
        net = fnnet.serial(
            fnnet.Dense(128, activations.relu), fnnet.Dense(128, activations.relu), fnnet.Dense(10)
        )
        # 1257 rows, batch 64: 19 steps an epoch; 200 steps = 11 epochs (209 steps)
        return net, lambda hp: optimizers.adam(hp["lr"]), train, val, 64, epochs or 11, [1e-3, 3e-3]
    split = fnnet.data.mnist1d()
    relu = activations.relu
    net = fnnet.serial(
        Conv(32, 5, padding="SAME", activation=relu),
        MaxPool(2),
        Conv(64, 3, padding="SAME", activation=relu),
        MaxPool(2),
        Conv(64, 3, padding="SAME", activation=relu),
        MaxPool(2),
        Flatten(),
        fnnet.Dense(10),
    )
    train = (split.train.x[..., None], split.train.y)
    val = (split.test.x[..., None], split.test.y)

    def adamw(hp):
        return optimizers.adamw(hp["lr"], weight_decay=1e-2)

    return net, adamw, train, val, 100, epochs or 12, [1e-3, 3e-2]


def measure(model: str, epochs: int) -> dict:
    net, make_opt, train, val, batch, epochs, rates = setup(model, epochs)
    loss = losses.softmax_cross_entropy
    trainer = sweep.make_trainer(
        net, loss, make_opt, train, epochs=epochs, batch_size=batch, validation=val
    )
    tic = time.perf_counter()
    grid = sweep.run(trainer, sweep.grid(lr=rates), KEY)
    rows = {}
    alone_program = jax.jit(trainer.run)
    member_key = sweep.member_key(KEY, 0)
    for i, lr in enumerate(rates):
        hp = {"lr": jnp.float32(lr)}
        alone_metrics, alone = alone_program(hp, member_key, trainer.data)
        point = sweep.run(trainer, sweep.point(lr=lr), KEY)
        start = net.init(jax.random.fold_in(member_key, 0), (batch, *train[0].shape[1:]))

        def fit(params):
            return fnnet.fit(
                net.apply,
                params,
                loss,
                make_opt(hp),
                train,
                key=jax.random.fold_in(member_key, 1),
                epochs=epochs,
                batch_size=batch,
                validation=val,
                skip_nonfinite=True,
                verbose=False,
            )

        fitted = fit(start)
        # the control: the same fit from parameters one ulp away (training's own sensitivity)
        nudged = fit(jax.tree_util.tree_map(lambda a: jnp.nextafter(a, jnp.inf), start))
        rows[f"{lr:g}"] = {
            "alone_val_accuracy": float(alone_metrics["val_accuracy"]),
            "grid_member_params": _relative(_member(grid.params, (i, 0)), alone),
            "grid_member_val_accuracy": float(grid.metrics["val_accuracy"][i, 0]),
            "point_member_params": _relative(_member(point.params, 0), alone),
            "point_member_val_accuracy": float(point.metrics["val_accuracy"][0]),
            "fit_params": _relative(fitted.params, alone),
            "fit_val_accuracy": float(fitted.history["val_accuracy"][-1]),
            "fit_one_ulp_apart_params": _relative(nudged.params, fitted.params),
            "fit_one_ulp_apart_val_accuracy": float(nudged.history["val_accuracy"][-1]),
        }
    steps = epochs * (train[0].shape[0] // batch)
    return {
        "model": model,
        "epochs": epochs,
        "steps": steps,
        "backend": jax.default_backend(),
        "seconds": round(time.perf_counter() - tic, 1),
        "rates": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn", "both"], default="both")
    parser.add_argument("--epochs", type=int, default=0, help="default: 11 (mlp), 12 (cnn)")
    args = parser.parse_args(argv)
    for model in ["mlp", "cnn"] if args.model == "both" else [args.model]:
        print(json.dumps(measure(model, args.epochs), indent=1))


if __name__ == "__main__":
    main()
