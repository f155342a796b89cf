"""Sweeps: one compile for a 64-member grid, members equal standalone runs and `fit`, per-member
early stopping, chunk- and position-independent keys, random search, ensembles, memory budget.

Compilation dominates the cost here, so every sweep of TRAINER uses the same member-axis shape
(chunks of 16, params kept): after the first, they reuse its compiled program.
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import activations, losses, optimizers, regularizers, sweep
from fnnet.gradcheck import assert_close

KEY = jax.random.key(7)
_x = jax.random.normal(jax.random.key(1), (48, 3))
_y = (
    _x @ jnp.array([1.0, -2.0, 0.5]) + 0.3 * jax.random.normal(jax.random.key(2), (48,)) > 0
).astype(jnp.int32)
TRAIN, VAL = (_x[:32], _y[:32]), (_x[32:], _y[32:])
LEARNING_RATES, DROP_RATES, SEEDS = [0.05, 0.3, 1.0, 3.0], [0.0, 0.25], 8


def _model(hp):
    return fnnet.serial(
        fnnet.Dense(4, activations.tanh), fnnet.Dropout(hp["drop_rate"]), fnnet.Dense(2)
    )


def _optimizer(hp):
    return optimizers.sgd(hp["learning_rate"], 0.5)


def _penalty(params, hp):
    del hp
    return regularizers.l2_penalty(params, 1e-3)


_BASE = sweep.make_trainer(
    _model,
    losses.softmax_cross_entropy,
    _optimizer,
    TRAIN,
    epochs=4,
    batch_size=8,
    validation=VAL,
    penalty=_penalty,
    patience=1,
)
TRACES = []


def _counted_run(hparams, key, data):
    TRACES.append(None)  # runs once per trace, never per member or per step
    return _BASE.run(hparams, key, data)


TRAINER = sweep.Trainer(_counted_run, _BASE.data)
STANDALONE = jax.jit(_BASE.run)  # one member alone, compiled on its own


def _close(a, b):
    # float32 through 16 steps: vmapped and unbatched matmuls may differ in summation order.
    assert_close(a, b)


def _hp(result, index):
    return {k: jnp.asarray(v[index]) for k, v in result.hparams.items()}


def _member(tree, index):
    return jax.tree_util.tree_map(lambda a: a[index], tree)


@pytest.fixture(scope="module")
def swept():
    before = len(TRACES)
    space = sweep.grid(learning_rate=LEARNING_RATES, drop_rate=DROP_RATES)
    result = sweep.run(TRAINER, space, KEY, seeds=SEEDS, chunk_size=16, keep_params=True)
    return result, len(TRACES) - before


def test_64_members_are_one_trace_and_one_program(swept):
    result, traces = swept
    assert traces == 1
    assert (result.chunk_size, result.num_chunks) == (16, 4)
    assert result.axes == ("learning_rate", "drop_rate", "seed")
    assert result.metrics["val_loss"].shape == (4, 2, 8)
    assert result.metrics["history"]["val_loss"].shape == (4, 2, 8, 4)
    assert result.params[0].w.shape == (4, 2, 8, 3, 4)
    np.testing.assert_array_equal(
        result.hparams["learning_rate"][:, 1, 3], np.float32(LEARNING_RATES)
    )
    np.testing.assert_array_equal(result.coords["seed"], np.arange(SEEDS))


@pytest.mark.parametrize("index", [(0, 0, 0), (1, 1, 5), (3, 1, 7)])
def test_members_reproduce_standalone_runs(swept, index):
    result, _ = swept
    metrics, params = STANDALONE(_hp(result, index), sweep.member_key(KEY, index[-1]), _BASE.data)
    _close(params, _member(result.params, index))
    _close(metrics, _member(result.metrics, index))
    assert int(metrics["epochs_run"]) == result.metrics["epochs_run"][index]


def test_early_stopping_is_per_member_and_keeps_the_best(swept):
    result, _ = swept
    m, history = result.metrics, result.metrics["history"]
    runs = m["epochs_run"]
    assert runs.min() < 4 and runs.max() == 4, "the grid should mix stopped and finished members"
    assert np.all(m["stopped_early"][runs < 4])
    trained = np.arange(4) < runs[..., None]
    assert np.all(np.isfinite(history["loss"]) == trained)  # NaN once a member has stopped
    np.testing.assert_array_equal(m["best_epoch"], np.nanargmin(history["val_loss"], axis=-1))
    np.testing.assert_array_equal(m["val_loss"], np.nanmin(history["val_loss"], axis=-1))
    # patience=1: a member stops right after its first epoch without improvement
    stopped = m["stopped_early"]
    np.testing.assert_array_equal(runs[stopped], m["best_epoch"][stopped] + 2)


def test_member_equals_fit_with_early_stopping(swept):
    """The independent reference: fnnet.fit, whose early stopping runs on the host."""
    result, _ = swept
    stopped = np.argwhere(result.metrics["stopped_early"] & (result.hparams["drop_rate"] > 0))
    index = tuple(stopped[0])
    lr, drop = (result.hparams[k][index].item() for k in ("learning_rate", "drop_rate"))
    key = sweep.member_key(KEY, index[-1])
    net = fnnet.serial(fnnet.Dense(4, activations.tanh), fnnet.Dropout(drop), fnnet.Dense(2))
    fitted = fnnet.fit(
        net.apply,
        net.init(jax.random.fold_in(key, 0), (3,)),
        losses.softmax_cross_entropy,
        optimizers.sgd(lr, 0.5),
        TRAIN,
        key=jax.random.fold_in(key, 1),
        epochs=4,
        batch_size=8,
        validation=VAL,
        penalty=lambda p: regularizers.l2_penalty(p, 1e-3),
        patience=1,
        skip_nonfinite=True,
        verbose=False,
    )
    assert fitted.stopped_early and fitted.best_epoch == result.metrics["best_epoch"][index]
    assert len(fitted.history["loss"]) == result.metrics["epochs_run"][index]
    _close(fitted.params, _member(result.params, index))
    runs = len(fitted.history["loss"])
    for name in ("loss", "val_loss", "val_accuracy"):
        _close(fitted.history[name], result.metrics["history"][name][index][:runs])


def test_results_do_not_depend_on_grid_position(swept):
    result, _ = swept
    # reversed grid axes: every member sits at another place in the flattened grid and its chunk
    reordered = sweep.run(
        TRAINER,
        sweep.grid(learning_rate=LEARNING_RATES[::-1], drop_rate=DROP_RATES[::-1]),
        KEY,
        seeds=SEEDS,
        chunk_size=16,
        keep_params=True,
    )
    flip = lambda a: a[::-1, ::-1]
    _close(jax.tree_util.tree_map(flip, reordered.metrics), result.metrics)
    _close(jax.tree_util.tree_map(flip, reordered.params), result.params)
    assert reordered.best.hparams == result.best.hparams and reordered.best.seed == result.best.seed


def test_best_member_and_metric_choice(swept):
    result, _ = swept
    assert result.best.metric == "val_loss"
    assert result.best.value == np.nanmin(result.metrics["val_loss"])
    assert result.metrics["val_loss"][result.best.index] == result.best.value
    _close(result.best.params, _member(result.params, result.best.index))


def test_best_member_carries_its_params_and_history(swept):
    result, _ = swept
    index = result.best.index
    _close(result.best.history, _member(result.metrics["history"], index))
    assert result.best.history["val_loss"].shape == (4,)
    # the winner without retraining: the member's parameters are the standalone run's
    hp = _hp(result, index)
    metrics, params = STANDALONE(hp, sweep.member_key(KEY, result.best.seed), _BASE.data)
    _close(result.best.params, params)
    _close(result.best.history, metrics["history"])


@pytest.mark.parametrize(
    "metric, maximize, reduce",
    [("val_loss", False, np.mean), ("val_accuracy", True, np.median), ("loss", False, np.max)],
)
def test_best_configuration_reduces_over_seeds(swept, metric, maximize, reduce):
    result, _ = swept
    choice = sweep.best_configuration(result, metric, maximize=maximize, reduce=reduce)
    # the reference: the reduction over the seed axis by hand, then the best cell
    values = np.asarray(result.metrics[metric], np.float64)
    scores = np.array(
        [[reduce(values[i, j]) for j in range(len(DROP_RATES))] for i in range(len(LEARNING_RATES))]
    )
    ranked = np.where(np.isnan(scores), -np.inf if maximize else np.inf, scores)
    best = np.unravel_index(np.argmax(ranked) if maximize else np.argmin(ranked), scores.shape)
    assert choice.index == tuple(int(i) for i in best)
    assert choice.hparams == {
        "learning_rate": float(np.float32(LEARNING_RATES[best[0]])),
        "drop_rate": float(np.float32(DROP_RATES[best[1]])),
    }
    assert choice.metric == metric and choice.value == pytest.approx(scores[best])
    np.testing.assert_array_equal(choice.values, result.metrics[metric][best])
    assert choice.params[0].w.shape == (SEEDS, 3, 4)
    _close(choice.params, _member(result.params, best))
    _close(choice.history, _member(result.metrics["history"], best))


def test_best_configuration_ranks_a_diverged_seed_last_and_checks_arguments(swept):
    def member(hp, key):  # configuration 1 is best on average, but one of its seeds is NaN
        noise = jax.random.uniform(key, ())
        loss = jnp.where((hp["a"] == 1.0) & (noise > 0.5), jnp.nan, hp["a"] + noise)
        return {"loss": loss}, ()

    result = sweep.run(member, {"a": [2.0, 1.0, 3.0]}, KEY, seeds=8)
    assert np.isnan(result.metrics["loss"][1]).any()
    assert sweep.best_configuration(result).hparams == {"a": 2.0}
    assert sweep.best_configuration(result, reduce=np.nanmean).hparams == {"a": 1.0}
    with pytest.raises(ValueError, match="`metric` must name a per-member metric"):
        sweep.best_configuration(swept[0], "history")
    with pytest.raises(TypeError, match="`reduce` must be a function"):
        sweep.best_configuration(swept[0], reduce="mean")
    with pytest.raises(ValueError, match="`reduce` must reduce the seed axis"):
        sweep.best_configuration(swept[0], reduce=lambda v, axis: v)
    with pytest.raises(TypeError, match="`result` must be the SweepResult"):
        sweep.best_configuration(swept[0].metrics)


def test_table_is_mean_and_std_over_seeds_per_configuration(swept):
    result, _ = swept
    rows = sweep.table(result)
    assert list(rows.mean) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert rows.seeds == SEEDS and list(rows.hparams) == ["learning_rate", "drop_rate"]
    configurations = [(lr, d) for lr in LEARNING_RATES for d in DROP_RATES]  # grid order
    for i, (lr, drop) in enumerate(configurations):
        assert (rows.hparams["learning_rate"][i], rows.hparams["drop_rate"][i]) == (
            np.float32(lr),
            np.float32(drop),
        )
        seeds = np.asarray(
            result.metrics["val_accuracy"][LEARNING_RATES.index(lr), DROP_RATES.index(drop)],
            np.float64,
        )
        assert rows.mean["val_accuracy"][i] == pytest.approx(seeds.sum() / SEEDS)
        assert rows.std["val_accuracy"][i] == pytest.approx(
            np.sqrt(((seeds - seeds.mean()) ** 2).sum() / SEEDS)
        )
    ranked = sweep.table(
        result, ["val_accuracy", "epochs_run"], sort_by="val_accuracy", maximize=True
    )
    assert list(ranked.mean) == ["val_accuracy", "epochs_run"]
    assert np.all(np.diff(ranked.mean["val_accuracy"]) <= 0)
    top = sweep.best_configuration(result, "val_accuracy", maximize=True)
    assert ranked.hparams["learning_rate"][0] == np.float32(top.hparams["learning_rate"])
    text = str(ranked).splitlines()
    assert text[0].split() == ["learning_rate", "drop_rate", "val_accuracy", "epochs_run"]
    assert len(text) == 1 + len(configurations) and "±" in text[1]
    with pytest.raises(TypeError, match="`metrics` must be a list"):
        sweep.table(result, "val_loss")


def test_heatmap_draws_the_seed_mean_and_outlines_the_best(swept):
    plt = pytest.importorskip("matplotlib.pyplot")
    result, _ = swept
    ax = sweep.heatmap(result, "val_accuracy", x="learning_rate", y="drop_rate", maximize=True)
    cells = np.asarray(ax.images[0].get_array())
    expected = np.asarray(result.metrics["val_accuracy"], np.float64).mean(-1).T  # rows: drop
    assert_close(cells, expected)
    top = sweep.best_configuration(result, "val_accuracy", maximize=True)
    (outline,) = ax.patches
    assert outline.get_xy() == (top.index[0] - 0.5, top.index[1] - 0.5)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{v:g}" for v in LEARNING_RATES]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="`x` must be one of the swept axes"):
        sweep.heatmap(result, x="seed")
    with pytest.raises(ValueError, match="two swept axes besides the seeds"):
        sweep.heatmap(sweep.run(lambda hp, k: ({"loss": hp["a"]}, ()), {"a": [1.0]}, KEY))


def test_heatmap_fixes_other_axes_and_needs_matplotlib(monkeypatch):
    plt = pytest.importorskip("matplotlib.pyplot")

    def member(hp, key):
        return {"loss": hp["a"] + 10 * hp["b"] + 100 * hp["c"] + jax.random.uniform(key, ())}, ()

    result = sweep.run(
        member, {"a": [1.0, 2.0], "b": [0.0, 1.0, 2.0], "c": [0.0, 1.0]}, KEY, seeds=2
    )
    with pytest.raises(
        ValueError, match=r"`fixed` must give one value for each other swept axis \['c'\]"
    ):
        sweep.heatmap(result, x="a", y="b")
    with pytest.raises(ValueError, match=r"`fixed\['c'\]` must be one of \[0.0, 1.0\]"):
        sweep.heatmap(result, x="a", y="b", fixed={"c": 5.0})
    ax = sweep.heatmap(result, x="a", y="b", fixed={"c": 1.0})
    assert_close(np.asarray(ax.images[0].get_array()), result.metrics["loss"][:, :, 1].mean(-1).T)
    assert "c=1" in ax.get_title()
    plt.close(ax.figure)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="needs matplotlib.*pip install matplotlib"):
        sweep.heatmap(result, x="a", y="b", fixed={"c": 1.0})


def test_random_search_draws():
    space = sweep.random_search(
        KEY,
        200,
        learning_rate=sweep.log_uniform(1e-4, 1.0),
        momentum=sweep.uniform(0.5, 0.9),
        drop_rate=sweep.choice([0.0, 0.1, 0.5]),
    )
    lr, mom, drop = (space.values[k] for k in ("learning_rate", "momentum", "drop_rate"))
    assert space.axes == ("trial",) and lr.shape == (200,) and lr.dtype == np.float32
    assert lr.min() >= 1e-4 and lr.max() < 1.0 and mom.min() >= 0.5 and mom.max() < 0.9
    assert set(drop.tolist()) == {0.0, np.float32(0.1), 0.5}
    logs = np.log10(lr)  # log-uniform: each decade gets about a quarter of the draws
    counts = np.histogram(logs, bins=4, range=(-4, 0))[0]
    assert counts.min() > 25, counts
    # trial t's draw depends only on (key, name, t): a longer search or another name leaves it alone
    shorter = sweep.random_search(KEY, 50, learning_rate=sweep.log_uniform(1e-4, 1.0))
    np.testing.assert_array_equal(shorter.values["learning_rate"], lr[:50])
    again = sweep.random_search(KEY, 200, learning_rate=sweep.log_uniform(1e-4, 1.0))
    np.testing.assert_array_equal(again.values["learning_rate"], lr)


def test_random_search_sweep_reuses_the_program_and_returns_the_draws(swept):
    _result, _ = swept
    space = sweep.random_search(
        jax.random.key(3),
        16,
        learning_rate=sweep.log_uniform(0.01, 3.0),
        drop_rate=sweep.choice([0.0, 0.25]),
    )
    before = len(TRACES)
    found = sweep.run(TRAINER, space, KEY, seeds=4, chunk_size=16, keep_params=True)
    assert len(TRACES) == before  # same member-axis shape: the grid's compiled program
    assert found.axes == ("trial", "seed") and found.metrics["loss"].shape == (16, 4)
    np.testing.assert_array_equal(
        found.hparams["learning_rate"][:, 2], space.values["learning_rate"]
    )
    index = (5, 2)
    metrics, params = STANDALONE(_hp(found, index), sweep.member_key(KEY, 2), _BASE.data)
    _close(params, _member(found.params, index))
    _close(metrics["val_loss"], found.metrics["val_loss"][index])


def test_ensemble_members_and_averaged_predictions(swept):
    result, _ = swept
    before = len(TRACES)
    ens = sweep.ensemble(TRAINER, {"learning_rate": 0.3, "drop_rate": 0.25}, KEY, size=16)
    assert len(TRACES) == before
    assert ens.axes == ("seed",) and ens.params[0].w.shape == (16, 3, 4)
    # seed s of the ensemble is seed s of the grid at the same hyperparameters
    _close(_member(ens.params, slice(0, 8)), _member(result.params, (1, 1)))
    net = _model({"drop_rate": 0.25})
    x, y = VAL
    outputs = np.stack([np.asarray(net.apply(_member(ens.params, k), x)) for k in range(16)])
    assert_close(sweep.predict_ensemble(net.apply, ens.params, x), outputs.mean(0))
    probs = np.exp(outputs - outputs.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    mean = probs.mean(0)
    assert_close(sweep.predict_ensemble(net.apply, ens.params, x, probabilities=True), mean)
    scores = sweep.evaluate_ensemble(net.apply, ens.params, x, y)
    assert float(scores.accuracy) == pytest.approx(np.mean(mean.argmax(-1) == np.asarray(y)))
    assert_close(scores.nll, -np.mean(np.log(mean[np.arange(len(y)), np.asarray(y)])))
    np.testing.assert_allclose(scores.member_accuracy, (probs.argmax(-1) == np.asarray(y)).mean(-1))


def test_memory_budget_and_chunk_sizes(swept):
    result, _ = swept
    before = len(TRACES)
    estimate = sweep.estimate_memory(
        TRAINER, {"learning_rate": [0.1], "drop_rate": [0.0]}, KEY, keep_params=True
    )
    assert estimate.shared == sum(a.nbytes for a in jax.tree_util.tree_leaves(_BASE.data))
    assert estimate.per_member > 0
    budget = estimate.shared + int(16.5 * estimate.per_member)
    assert estimate.chunk_size(budget) == 16
    # 40 members in chunks of 16, the last padded with 8 copies; the 16-member program is reused
    chunked = sweep.run(
        TRAINER,
        sweep.grid(learning_rate=[0.3], drop_rate=[0.0, 0.25]),
        KEY,
        seeds=20,
        memory_budget=budget,
        keep_params=True,
    )
    assert (chunked.chunk_size, chunked.num_chunks) == (16, 3)
    _close(chunked.metrics["val_loss"][0, :, :8], result.metrics["val_loss"][1])
    _close(_member(chunked.params, (0, 1, slice(0, 8))), _member(result.params, (1, 1)))
    # chunks of one member: the probe's program, a different vmapped width, the same results
    # (at learning rate 3 the dynamics are chaotic and amplify the float32 rounding differences
    # between vmapped widths to ~1e-2 after 16 steps; 0.3 is well-conditioned)
    single = sweep.run(
        TRAINER,
        sweep.grid(learning_rate=[0.3], drop_rate=[0.25]),
        KEY,
        seeds=3,
        chunk_size=1,
        keep_params=True,
    )
    assert (single.chunk_size, single.num_chunks) == (
        1,
        3,
    ) and single.compile_seconds < 1.0
    _close(_member(single.params, (0, 0)), _member(result.params, (1, 1, slice(0, 3))))
    _close(single.metrics["val_loss"][0, 0], result.metrics["val_loss"][1, 1, :3])
    assert len(TRACES) - before == 1  # the 1-member probe, traced once


def test_plain_train_function_and_maximize():
    def train(hp, key):  # gradient descent on a quadratic: loss = (1 - 2 lr)^(2 steps) * x0²
        x = 1.0 + 0.1 * jax.random.normal(key, ())
        for _ in range(2):
            x = x - hp["learning_rate"] * 2.0 * x
        return {"loss": x * x, "neg": -x * x}, x

    result = sweep.run(train, {"learning_rate": [0.1, 0.5, 0.9]}, KEY, seeds=2)
    assert result.best.hparams["learning_rate"] == pytest.approx(0.5) and result.best.value == 0.0
    worst = sweep.run(
        train,
        {"learning_rate": [0.1, 0.5, 0.9]},
        KEY,
        seeds=2,
        metric="neg",
        maximize=True,
    )
    assert worst.best.hparams["learning_rate"] == pytest.approx(0.5)
    assert result.params.shape == (3, 2)  # every member's final "params" by default
    assert sweep.run(train, {"learning_rate": [0.1]}, KEY, keep_params=False).params is None


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="`learning_rate`"):
        sweep.grid(learning_rate=[])
    with pytest.raises(TypeError, match="`learning_rate`"):
        sweep.grid(learning_rate=["a", "b"])
    with pytest.raises(ValueError, match="`low`"):
        sweep.log_uniform(0.0, 1.0)
    with pytest.raises(TypeError, match="`momentum`"):
        sweep.random_search(KEY, 4, momentum=0.9)
    with pytest.raises(ValueError, match="`num_trials`"):
        sweep.random_search(KEY, 0, momentum=sweep.uniform(0.0, 1.0))
    with pytest.raises(ValueError, match="`patience`"):
        sweep.make_trainer(
            _model,
            losses.softmax_cross_entropy,
            _optimizer,
            TRAIN,
            epochs=2,
            batch_size=8,
            patience=2,
        )
    with pytest.raises(ValueError, match="`batch_size`"):
        sweep.make_trainer(
            _model,
            losses.softmax_cross_entropy,
            _optimizer,
            TRAIN,
            epochs=2,
            batch_size=64,
        )
    with pytest.raises(TypeError, match="`optimizer`"):
        sweep.make_trainer(
            _model, losses.softmax_cross_entropy, "adam", TRAIN, epochs=2, batch_size=8
        )
    with pytest.raises(ValueError, match="`seeds`"):
        sweep.run(TRAINER, {"learning_rate": [0.1]}, KEY, seeds=0)
    with pytest.raises(TypeError, match="`mesh`"):
        sweep.run(TRAINER, {"learning_rate": [0.1]}, KEY, mesh="cpu")
    with pytest.raises(TypeError, match="`space`"):
        sweep.run(TRAINER, [0.1, 0.2], KEY)
    with pytest.raises(KeyError, match="'drop_rate'.*`space`"):
        sweep.run(lambda hp, k: ({"loss": hp["drop_rate"]}, ()), {"learning_rate": [0.1]}, KEY)
    with pytest.raises(ValueError, match="`metric`"):
        sweep.run(lambda hp, k: ({"loss": hp["a"]}, ()), {"a": [1.0]}, KEY, metric="accuracy")


@pytest.mark.slow
def test_example_quick_writes_the_heatmap(tmp_path):
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "sweep.py")
    flags = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()  # faster compiles
    out = subprocess.run(
        [sys.executable, script, "--quick", "--out", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, XLA_FLAGS=flags),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "sweep_heatmap.png").stat().st_size > 1000
    assert "best configuration" in out.stdout and "one member alone" in out.stdout


def test_sweep_members_never_keep_a_nonfinite_state():
    """An overflowing learning rate (finite loss and gradients, θ − η g = inf) is rejected
    step by step: that member keeps finite parameters; the other trains normally."""
    x = 1e3 * jax.random.normal(jax.random.key(3), (16, 3))
    y = jax.random.normal(jax.random.key(4), (16, 2))
    trainer = sweep.make_trainer(
        fnnet.Dense(2),
        losses.squared_error,
        lambda hp: optimizers.sgd(hp["lr"]),
        (x, y),
        epochs=2,
        batch_size=8,
    )
    result = sweep.run(trainer, sweep.grid(lr=[1e-9, 1e36]), KEY, keep_params=True)
    for leaf in jax.tree_util.tree_leaves(result.params):
        assert np.all(np.isfinite(leaf))
    np.testing.assert_array_equal(
        result.metrics["history"]["skipped_steps"][:, 0], [[0.0, 0.0], [2.0, 2.0]]
    )
    np.testing.assert_array_equal(result.metrics["steps_taken"][:, 0], [4, 0])
