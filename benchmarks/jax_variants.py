"""The JAX train steps under test: fnnet's (hand rules, autodiff switch, whole-network rule) and
a raw-JAX reference written here in plain ``jax.numpy``.

Every builder returns ``(init_state, step)`` with ``step(state, x, y) -> (state, out)``, a pure
function; ``out`` is what a training loop reads per step (the loss; for ``fnnet.make_train_step``
its ``StepMetrics``). The harness compiles ``step`` as a donated jitted step and as a
``lax.scan`` of many steps, with the per-step outputs stacked as ``fit`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from configs import Config

LEARNING_RATE = 1e-3
B1, B2, EPS = 0.9, 0.999, 1e-8


class Variant(NamedTuple):
    name: str
    description: str
    init_state: Callable[[], Any]  # fresh state (own buffers: the steps donate it)
    step: Callable[[Any, jax.Array, jax.Array], tuple[Any, Any]]
    family: str  # "reference" | "hand" | "autodiff" | "proposal"


# ---------------------------------------------------------------- raw-JAX reference


class RawAdamState(NamedTuple):
    params: list
    mu: list
    nu: list
    count: jax.Array  # int32 steps taken


def _raw_forward(activation: Callable, params: list, x: jax.Array) -> jax.Array:
    *hidden, (w_out, b_out) = params
    for w, b in hidden:
        x = activation(x @ w + b)
    return x @ w_out + b_out


def _raw_loss(activation: Callable, params: list, x: jax.Array, y: jax.Array) -> jax.Array:
    logits = _raw_forward(activation, params, x)
    log_p = jax.nn.log_softmax(logits, axis=-1)
    # one-hot rather than take_along_axis: the latter's gradient is a scatter, 4 more kernels a step
    one_hot = jax.nn.one_hot(y, logits.shape[-1], dtype=logits.dtype)
    return -jnp.mean(jnp.sum(one_hot * log_p, axis=-1))


def raw_jax_variant(config: Config, params_like: Callable[[], list]) -> Variant:
    """Plain jnp forward, ``jax.value_and_grad``, Adam written in jnp with constant hyperparameters."""
    activation = {"relu": lambda z: jnp.maximum(z, 0.0), "sigmoid": jax.nn.sigmoid}[
        config.activation
    ]

    def init_state() -> RawAdamState:
        params = [tuple(layer) for layer in params_like()]
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return RawAdamState(
            params,
            zeros,
            jax.tree_util.tree_map(jnp.zeros_like, params),
            jnp.zeros((), jnp.int32),
        )

    def step(state: RawAdamState, x, y):
        loss, grads = jax.value_and_grad(lambda p: _raw_loss(activation, p, x, y))(state.params)
        count = state.count + 1
        t = count.astype(jnp.float32)
        c1 = 1.0 - B1**t
        c2 = 1.0 - B2**t
        mu = jax.tree_util.tree_map(lambda m, g: B1 * m + (1.0 - B1) * g, state.mu, grads)
        nu = jax.tree_util.tree_map(lambda v, g: B2 * v + (1.0 - B2) * g * g, state.nu, grads)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - LEARNING_RATE * (m / c1) / (jnp.sqrt(v / c2) + EPS),
            state.params,
            mu,
            nu,
        )
        return RawAdamState(params, mu, nu, count), loss

    return Variant(
        "raw_jax",
        "raw JAX: jnp forward, jax.grad, Adam in jnp",
        init_state,
        step,
        "reference",
    )


# ---------------------------------------------------------------- fnnet


def fnnet_variants(config: Config, key: jax.Array) -> tuple[list[Variant], Callable[[], list]]:
    """fnnet's steps for ``config``, and a function returning fresh copies of the initial params."""
    import fnnet
    from fnnet import activations, losses

    act = {"relu": activations.relu, "sigmoid": activations.sigmoid}[config.activation]
    hidden, classes = config.sizes[1:-1], config.sizes[-1]
    net = fnnet.serial(*[fnnet.Dense(n, act) for n in hidden], fnnet.Dense(classes))
    mlp = fnnet.MLP(config.sizes[1:], activation=act)
    params0 = net.init(key, config.sizes[0])
    optimizer = fnnet.optimizers.adam(LEARNING_RATE, B1, B2, EPS)
    sce = losses.softmax_cross_entropy
    step_key = jax.random.key(1)  # Dense ignores it; it is what `fit` would pass

    def fresh_params() -> list:
        return [(jnp.array(w, copy=True), jnp.array(b, copy=True)) for w, b in params0]

    def fresh_fnnet_params():
        return tuple(fnnet.layers.DenseParams(w, b) for w, b in fresh_params())

    def fresh_state():  # make_train_step's initial state, the one fit starts from too
        return fnnet.make_train_step(net.apply, sce, optimizer).init(fresh_fnnet_params())

    def library_step(apply, loss, **options):
        train_step = fnnet.make_train_step(apply, loss, optimizer, **options).step

        def step(state, x, y):
            return train_step(state, (x, y), step_key)

        return step

    def objective_of(apply, loss):
        def objective(params, x, y, key):
            outputs = apply(params, x, key=key, training=True)
            return loss(outputs, y), outputs

        return objective

    def unguarded_step(apply, loss):
        """make_train_step's data flow and StepMetrics with the non-finite guard removed: the
        update is always applied. ``fnnet_step`` over this is the guard's cost."""
        from fnnet.training import StepMetrics, accuracy

        objective = objective_of(apply, loss)
        yes = jnp.array(True)

        def step(state, x, y):
            (value, outputs), grads = jax.value_and_grad(objective, has_aux=True)(
                state.params, x, y, step_key
            )
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            params = fnnet.optimizers.apply_updates(state.params, updates)
            new_state = state._replace(params=params, opt_state=opt_state, step=state.step + 1)
            return new_state, StepMetrics(value, accuracy(outputs, y), yes, yes, yes, yes)

        return step

    def cond_guard_step(apply, loss):
        """The previous library guard: decide from the loss and the gradients only (all(isfinite)
        per leaf), then update under ``lax.cond``; the updated params are not checked."""
        from fnnet.training import StepMetrics, accuracy

        objective = objective_of(apply, loss)

        def step(state, x, y):
            (value, outputs), grads = jax.value_and_grad(objective, has_aux=True)(
                state.params, x, y, step_key
            )
            loss_ok = jnp.isfinite(value)
            grads_ok = jnp.all(
                jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)])
            )

            def update(_):
                updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
                return fnnet.optimizers.apply_updates(state.params, updates), opt_state

            params, opt_state = jax.lax.cond(
                loss_ok & grads_ok,
                update,
                lambda _: (state.params, state.opt_state),
                None,
            )
            new_state = state._replace(params=params, opt_state=opt_state, step=state.step + 1)
            ok = loss_ok & grads_ok
            return new_state, StepMetrics(value, accuracy(outputs, y), loss_ok, grads_ok, ok, ok)

        return step

    def bare_step(loss_of_params):
        """value_and_grad + fnnet's adam + apply_updates: no non-finite guard, no metrics."""

        def step(state, x, y):
            loss, grads = jax.value_and_grad(loss_of_params)(state.params, x, y)
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            params = fnnet.optimizers.apply_updates(state.params, updates)
            return state._replace(params=params, opt_state=opt_state, step=state.step + 1), loss

        return step

    def serial_loss(params, x, y):
        return sce(net.apply(params, x), y)

    def mlp_loss(params, x, y):
        return mlp.loss(params, x, y, sce)

    auto = fnnet.with_autodiff
    variants = [
        Variant(
            "fnnet_step",
            "fnnet.make_train_step(serial(Dense...), softmax_cross_entropy, adam): hand rules, "
            "non-finite guard, StepMetrics",
            fresh_state,
            library_step(net.apply, sce),
            "hand",
        ),
        Variant(
            "fnnet_step_autodiff",
            "the same make_train_step with apply and loss wrapped in fnnet.with_autodiff (jax.grad)",
            fresh_state,
            library_step(auto(net.apply), auto(sce)),
            "autodiff",
        ),
        Variant(
            "fnnet_serial",
            "serial(Dense...) + softmax_cross_entropy, hand rules; bare step (value_and_grad, fnnet adam, "
            "apply_updates; no guard, no metrics)",
            fresh_state,
            bare_step(serial_loss),
            "hand",
        ),
        Variant(
            "fnnet_serial_autodiff",
            "fnnet_serial with the loss wrapped in fnnet.with_autodiff",
            fresh_state,
            bare_step(auto(serial_loss)),
            "autodiff",
        ),
        Variant(
            "fnnet_mlp",
            "MLP(...).loss, the whole-network rule mlp_loss (matched output δ); bare step",
            fresh_state,
            bare_step(mlp_loss),
            "hand",
        ),
        Variant(
            "fnnet_mlp_autodiff",
            "fnnet_mlp with MLP(...).loss wrapped in fnnet.with_autodiff",
            fresh_state,
            bare_step(auto(mlp_loss)),
            "autodiff",
        ),
        Variant(
            "fnnet_step_fit",
            "fnnet.make_train_step(..., check_update=False): the step fit runs (loss and "
            "gradients checked per step, the state once per epoch with a replay if needed)",
            fresh_state,
            library_step(net.apply, sce, check_update=False),
            "hand",
        ),
        Variant(
            "fnnet_step_unguarded",
            "what-if, not fnnet code: make_train_step's data flow and StepMetrics without the "
            "non-finite guard (fnnet_step over this = the guard's cost)",
            fresh_state,
            unguarded_step(net.apply, sce),
            "proposal",
        ),
        Variant(
            "proposal_cond_guard",
            "what-if, the previous library guard: loss and gradients only (all(isfinite) per "
            "leaf), update under lax.cond; new params and optimizer state not checked",
            fresh_state,
            cond_guard_step(net.apply, sce),
            "proposal",
        ),
    ]
    return variants, fresh_params


# hand-rule variant -> its autodiff twin (same forward, jax.grad)
AUTODIFF_TWIN = {
    "fnnet_step": "fnnet_step_autodiff",
    "fnnet_serial": "fnnet_serial_autodiff",
    "fnnet_mlp": "fnnet_mlp_autodiff",
}


# the default sets; raw_jax is always included
FULL_VARIANTS = (
    "fnnet_step",
    "fnnet_step_autodiff",
    "fnnet_serial",
    "fnnet_serial_autodiff",
    "fnnet_mlp",
    "fnnet_mlp_autodiff",
    "fnnet_step_fit",
    "fnnet_step_unguarded",
    "proposal_cond_guard",
)
QUICK_VARIANTS = (
    "fnnet_step",
    "fnnet_step_fit",
    "fnnet_step_autodiff",
    "fnnet_mlp",
    "fnnet_mlp_autodiff",
)


def all_variants(config: Config, variants: tuple[str, ...] | None = None) -> list[Variant]:
    fnnet_list, fresh_params = fnnet_variants(config, jax.random.key(0))
    out = [raw_jax_variant(config, fresh_params), *fnnet_list]
    if variants:
        unknown = set(variants) - {v.name for v in out}
        if unknown:
            raise SystemExit(f"unknown variants {sorted(unknown)}; known: {[v.name for v in out]}")
        out = [v for v in out if v.name in variants or v.name == "raw_jax"]
    return out
