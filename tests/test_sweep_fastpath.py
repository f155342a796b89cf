"""The shared-minibatch fast path of ``fnnet.sweep.run``: with one seed every member has the same
key, so ``run`` passes it once (not vmapped); initialisation, minibatch order and dropout masks
are computed once, and the first layer's ``x @ W`` and ``xᵀδ`` are one wide GEMM over all
members. The members must still equal the same members trained alone."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import activations, losses, optimizers, regularizers, sweep
from fnnet.gradcheck import assert_close

KEY = jax.random.key(5)
X = jax.random.normal(jax.random.key(1), (88, 6))  # 64 training rows, 24 validation
Y = jnp.argmax(X @ jax.random.normal(jax.random.key(2), (6, 3)), axis=-1).astype(jnp.int32)
HIDDEN, BATCH = 16, 16
TRAINER = sweep.make_trainer(
    lambda hp: fnnet.serial(
        fnnet.Dense(HIDDEN, activations.relu), fnnet.Dropout(hp["drop_rate"]), fnnet.Dense(3)
    ),
    losses.softmax_cross_entropy,
    lambda hp: optimizers.adam(hp["learning_rate"]),
    (X[:64], Y[:64]),
    epochs=3,
    batch_size=BATCH,
    validation=(X[64:], Y[64:]),
    penalty=lambda p, hp: regularizers.l2_penalty(p, hp["weight_decay"]),
)
SPACE = sweep.grid(learning_rate=[3e-3, 3e-2], weight_decay=[0.0, 1e-2], drop_rate=[0.0, 0.3])


def _alone(hparams: dict, seed: int):
    hp = {k: jnp.float32(v) for k, v in hparams.items()}
    return jax.jit(TRAINER.run)(hp, sweep.member_key(KEY, seed), TRAINER.data)


def _close(a, b):
    assert_close(a, b)  # float32 rounding of wide against per-member GEMMs


@pytest.fixture(scope="module")
def shared():
    return sweep.run(TRAINER, SPACE, KEY, keep_params=True)


def test_one_seed_members_equal_members_run_alone(shared):
    assert shared.metrics["val_loss"].shape == (2, 2, 2, 1)
    assert len(np.unique(shared.metrics["val_loss"])) == 8  # every hyperparameter matters
    for index in [(0, 0, 0, 0), (1, 1, 1, 0), (1, 0, 1, 0)]:
        hparams = {k: v[index] for k, v in shared.hparams.items()}
        metrics, params = _alone(hparams, seed=0)
        _close(jax.tree_util.tree_map(lambda a, i=index: a[i], shared.params), params)
        for name in ("loss", "val_loss", "val_accuracy", "steps_taken"):
            _close(shared.metrics[name][index], metrics[name])
        _close(shared.metrics["history"]["loss"][index], metrics["history"]["loss"])


def test_several_seeds_fall_back_to_per_member_keys_and_agree(shared):
    both = sweep.run(TRAINER, SPACE, KEY, seeds=2, keep_params=True)
    # seed 0 of the fallback is the fast path's member; seed 1 has its own data order
    _close(both.metrics["val_loss"][..., :1], shared.metrics["val_loss"])
    _close(jax.tree_util.tree_map(lambda a: a[:, :, :, :1], both.params), shared.params)
    hparams = {k: v[1, 0, 1, 1] for k, v in both.hparams.items()}
    metrics, params = _alone(hparams, seed=1)
    _close(jax.tree_util.tree_map(lambda a: a[1, 0, 1, 1], both.params), params)
    assert not np.allclose(both.metrics["val_loss"][..., 0], both.metrics["val_loss"][..., 1])


def _wide_dots(seeds: int, members: int) -> list[str]:
    """Output shapes of the compiled sweep's dots that span every member's first layer."""
    program = sweep._run._members_program(TRAINER.run, False, None, seeds == 1)  # noqa: SLF001
    hparams = {k: jnp.full((members,), 0.01, jnp.float32) for k in SPACE.values}
    seed = jnp.zeros((), jnp.int32) if seeds == 1 else jnp.zeros((members,), jnp.int32)
    text = program.lower(hparams, seed, KEY, TRAINER.data).compile().as_text()
    shapes = re.findall(r"= f32\[([\d,]+)\]\{[^}]*\} dot\(", text)
    # x @ [W¹ … Wᴷ] on a training batch and on the validation set, and ∂W = xᵀ δ
    wide = {f"{BATCH},{members * HIDDEN}", f"24,{members * HIDDEN}", f"6,{members * HIDDEN}"}
    return sorted(s for s in shapes if s in wide)


def test_one_seed_makes_the_first_layer_one_wide_gemm():
    members = 4
    width = members * HIDDEN
    assert _wide_dots(seeds=1, members=members) == sorted(
        [f"{BATCH},{width}", f"24,{width}", f"6,{width}"]
    )
    # own keys, own minibatches: only the (unshuffled, shared) validation forward stays wide
    assert _wide_dots(seeds=2, members=members) == [f"24,{width}"]
