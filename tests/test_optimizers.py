"""Optimizers: the first steps against numpy transcriptions of the papers, convergence,
state structure and dtypes, tree-mismatch errors, vmapped sweeps and compile counts."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import optimizers as opt
from fnnet import schedules
from fnnet.gradcheck import assert_close

N_STEPS = 5
SHAPES = {"w": (3, 2), "b": (2,), "s": ()}  # a matrix (a weight), a vector and a scalar


# ---------------------------------------------------------------- numpy transcriptions
# Each takes one leaf's initial value, the list of its gradients, and whether the leaf is a
# weight (ndim >= 2); it returns the leaf after each step. Written from the papers' equations
# with t counting from 1, sharing no code with fnnet.


def np_sgd(theta, grads, is_weight, lr):
    out = []
    for g in grads:
        theta = theta - lr * g
        out.append(theta)
    return out


def np_momentum(theta, grads, is_weight, lr, mu):
    v, out = np.zeros_like(theta), []  # Polyak: v <- mu v + g, theta <- theta - lr v
    for g in grads:
        v = mu * v + g
        theta = theta - lr * v
        out.append(theta)
    return out


def np_nesterov(theta, grads, is_weight, lr, mu):
    v, out = np.zeros_like(theta), []  # Bengio et al. 2013's form of Sutskever's NAG
    for g in grads:
        v = mu * v + g
        theta = theta - lr * (g + mu * v)
        out.append(theta)
    return out


def np_adagrad(theta, grads, is_weight, lr, g0, delta):
    G, out = np.full_like(theta, g0), []  # Duchi et al.: x <- x - lr g / (delta + sqrt(G))
    for g in grads:
        G = G + g * g
        theta = theta - lr * g / (delta + np.sqrt(G))
        out.append(theta)
    return out


def np_rmsprop(theta, grads, is_weight, lr, rho, eps, centered=False, mom=None):
    n, m, delta, out = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta), []
    for g in grads:  # Graves 2013, eqs. 38-41 (mom=None, centered=False: Hinton's lecture)
        n = rho * n + (1 - rho) * g**2
        m = rho * m + (1 - rho) * g
        denom = np.sqrt(n - m**2 + eps) if centered else np.sqrt(n + eps)
        if mom is None:
            theta = theta - lr * g / denom
        else:
            delta = mom * delta - lr * g / denom
            theta = theta + delta
        out.append(theta)
    return out


def np_adam(theta, grads, is_weight, alpha, b1, b2, eps, wd=0.0):
    m, v, out = np.zeros_like(theta), np.zeros_like(theta), []
    for t, g in enumerate(grads, start=1):  # Kingma & Ba, Algorithm 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        decay = wd * theta if is_weight else 0.0  # AdamW, Loshchilov & Hutter Alg. 2, eta = alpha
        theta = theta - alpha * (m_hat / (np.sqrt(v_hat) + eps) + decay)
        out.append(theta)
    return out


def np_nadam(theta, grads, is_weight, eta, mu, nu, eps):
    m, n, out = np.zeros_like(theta), np.zeros_like(theta), []
    for t, g in enumerate(grads, start=1):  # Dozat 2016, Algorithm 2, constant mu
        g_hat = g / (1 - mu**t)
        m = mu * m + (1 - mu) * g
        m_hat = m / (1 - mu ** (t + 1))
        n = nu * n + (1 - nu) * g**2
        n_hat = n / (1 - nu**t)
        m_bar = (1 - mu) * g_hat + mu * m_hat
        theta = theta - eta * m_bar / (np.sqrt(n_hat) + eps)
        out.append(theta)
    return out


def np_amsgrad(theta, grads, is_weight, alpha, b1, b2, eps):
    m, v, v_hat, out = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta), []
    for g in grads:  # Reddi et al., Algorithm 2
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_hat = np.maximum(v_hat, v)
        theta = theta - alpha * m / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return out


# (id, fnnet optimizer, numpy reference)
TRANSCRIPTIONS = [
    ("sgd", lambda: opt.sgd(0.1), functools.partial(np_sgd, lr=0.1)),
    ("momentum", lambda: opt.sgd(0.05, 0.9), functools.partial(np_momentum, lr=0.05, mu=0.9)),
    (
        "nesterov",
        lambda: opt.sgd(0.05, 0.8, nesterov=True),
        functools.partial(np_nesterov, lr=0.05, mu=0.8),
    ),
    (
        "adagrad",
        lambda: opt.adagrad(0.1),
        functools.partial(np_adagrad, lr=0.1, g0=0.0, delta=1e-7),
    ),
    (
        "adagrad_init",
        lambda: opt.adagrad(0.3, 0.1, 1e-3),
        functools.partial(np_adagrad, lr=0.3, g0=0.1, delta=1e-3),
    ),
    (
        "rmsprop",
        lambda: opt.rmsprop(0.01),
        functools.partial(np_rmsprop, lr=0.01, rho=0.9, eps=1e-8),
    ),
    (
        "rmsprop_centered",
        lambda: opt.rmsprop(0.01, 0.95, 1e-4, centered=True),
        functools.partial(np_rmsprop, lr=0.01, rho=0.95, eps=1e-4, centered=True),
    ),
    (
        "rmsprop_centered_momentum",
        lambda: opt.rmsprop(1e-2, 0.95, 1e-4, centered=True, momentum=0.9),
        functools.partial(np_rmsprop, lr=1e-2, rho=0.95, eps=1e-4, centered=True, mom=0.9),
    ),
    (
        "rmsprop_momentum",
        lambda: opt.rmsprop(1e-2, momentum=0.5),
        functools.partial(np_rmsprop, lr=1e-2, rho=0.9, eps=1e-8, mom=0.5),
    ),
    (
        "adam",
        lambda: opt.adam(0.1, 0.8, 0.99, 1e-6),
        functools.partial(np_adam, alpha=0.1, b1=0.8, b2=0.99, eps=1e-6),
    ),
    (
        "adam_defaults",
        lambda: opt.adam(1e-3),
        functools.partial(np_adam, alpha=1e-3, b1=0.9, b2=0.999, eps=1e-8),
    ),
    (
        "nadam",
        lambda: opt.nadam(0.1, 0.9, 0.99),
        functools.partial(np_nadam, eta=0.1, mu=0.9, nu=0.99, eps=1e-8),
    ),
    (
        "adamw",
        lambda: opt.adamw(0.1, weight_decay=0.3),
        functools.partial(np_adam, alpha=0.1, b1=0.9, b2=0.999, eps=1e-8, wd=0.3),
    ),
    (
        "amsgrad",
        lambda: opt.amsgrad(0.1, 0.9, 0.99),
        functools.partial(np_amsgrad, alpha=0.1, b1=0.9, b2=0.99, eps=1e-8),
    ),
]
IDS = [t[0] for t in TRANSCRIPTIONS]


def _draw(key, dtype):
    """Initial params and N_STEPS gradient trees of ``dtype``, from one random draw."""
    sizes = [int(np.prod(shape)) for shape in SHAPES.values()]
    flat = np.asarray(jax.random.normal(key, ((N_STEPS + 1) * sum(sizes),), dtype))
    trees = []
    for chunk in np.split(flat, N_STEPS + 1):
        parts = np.split(chunk, np.cumsum(sizes)[:-1])
        trees.append({n: jnp.asarray(x.reshape(SHAPES[n]), dtype) for n, x in zip(SHAPES, parts)})
    return trees[0], trees[1:]


def _run(optimizer, params, grads_seq):
    """The params after each step, run eagerly (jax caches each primitive across optimizers,
    which is cheaper here than compiling every optimizer's update)."""
    state = optimizer.init(params)
    history = []
    for grads in grads_seq:
        updates, state = optimizer.update(grads, state, params)
        params = opt.apply_updates(params, updates)
        history.append(params)
    return history


def _check_transcription(make, reference, key, dtype):
    params, grads_seq = _draw(key, dtype)
    history = _run(make(), params, grads_seq)
    for name in SHAPES:
        p0 = np.asarray(params[name], np.float64)
        gs = [np.asarray(g[name], np.float64) for g in grads_seq]
        want = reference(p0, gs, p0.ndim >= 2)
        for step, (got, expected) in enumerate(zip(history, want)):
            assert got[name].dtype == dtype
            assert_close(got[name], expected, err_msg=f"leaf {name!r}, step {step + 1}")


@pytest.mark.parametrize("name, make, reference", TRANSCRIPTIONS, ids=IDS)
def test_first_steps_match_paper_float64(x64, key, name, make, reference):
    _check_transcription(make, reference, key, jnp.float64)


@pytest.mark.parametrize("name, make, reference", TRANSCRIPTIONS, ids=IDS)
def test_first_steps_match_paper_float32(key, name, make, reference):
    _check_transcription(make, reference, key, jnp.float32)


def test_nesterov_equals_sutskever_lookahead_form(x64):
    """Sutskever et al.'s NAG evaluates the gradient at theta + mu v; fnnet's iterates are
    Theta = theta + mu v, with the gradient at Theta (exact for a constant learning rate)."""
    a = np.array([[3.0, 0.5], [0.5, 1.0]])
    c = np.array([1.0, -2.0])

    def grad_np(x):
        return a @ (x - c)

    lr, mu = 0.1, 0.9
    theta, v = np.array([2.0, 3.0]), np.zeros(2)
    optimizer = opt.sgd(lr, mu, nesterov=True)
    params = jnp.asarray(theta)
    state = optimizer.init(params)
    for _ in range(8):
        v = mu * v - lr * grad_np(theta + mu * v)  # Sutskever et al. 2013, eqs. (3)-(4)
        theta = theta + v
        grads = jnp.asarray(a) @ (params - jnp.asarray(c))
        updates, state = optimizer.update(grads, state, params)
        params = opt.apply_updates(params, updates)
        assert_close(params, theta + mu * v)


# ---------------------------------------------------------------- convergence


def _quadratic():
    target = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array(3.0)}
    init = {"a": jnp.zeros(3), "b": jnp.array(0.0)}

    def loss(p):
        return 0.5 * sum(jnp.sum((p[k] - target[k]) ** 2) for k in p)

    return init, loss, target


def _rosenbrock():
    init = (jnp.array(0.0), jnp.array(0.0))

    def loss(p):
        x, y = p
        return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2

    return init, loss, (jnp.array(1.0), jnp.array(1.0))


# (id, quadratic optimizer, rosenbrock optimizer, steps)
CONVERGENCE = [
    ("sgd", lambda: opt.sgd(0.1), lambda: opt.sgd(2e-3), 20000),
    ("momentum", lambda: opt.sgd(0.05, 0.9), lambda: opt.sgd(1e-3, 0.9), 5000),
    (
        "nesterov",
        lambda: opt.sgd(0.05, 0.9, nesterov=True),
        lambda: opt.sgd(1e-3, 0.9, nesterov=True),
        5000,
    ),
    ("adagrad", lambda: opt.adagrad(0.5), lambda: opt.adagrad(0.5), 5000),
    ("rmsprop", lambda: opt.rmsprop(0.01), lambda: opt.rmsprop(1e-3), 5000),
    (
        "rmsprop_centered",
        lambda: opt.rmsprop(0.01, centered=True, momentum=0.5),
        lambda: opt.rmsprop(1e-3, centered=True),
        5000,
    ),
    ("adam", lambda: opt.adam(0.1), lambda: opt.adam(0.01), 5000),
    ("nadam", lambda: opt.nadam(0.1), lambda: opt.nadam(0.01), 5000),
    # every leaf here is a vector or a scalar, so the default mask decays nothing
    (
        "adamw",
        lambda: opt.adamw(0.1, weight_decay=0.1),
        lambda: opt.adamw(0.01, weight_decay=0.1),
        5000,
    ),
    ("amsgrad", lambda: opt.amsgrad(0.1), lambda: opt.amsgrad(0.01), 5000),
    (
        "clipped_adam_cosine",
        lambda: opt.chain(
            opt.clip_by_global_norm(1.0),
            opt.adam(schedules.cosine_decay(0.1, decay_steps=5000, alpha=0.01)),
        ),
        lambda: opt.chain(
            opt.clip_by_global_norm(1.0),
            opt.adam(
                schedules.warmup_cosine_decay(
                    0.0, peak_value=0.02, warmup_steps=100, decay_steps=5000
                )
            ),
        ),
        5000,
    ),
]


def _minimize(optimizer, init, loss, steps):
    def step(carry, _):
        params, state = carry
        grads = jax.grad(loss)(params)
        updates, state = optimizer.update(grads, state, params)
        return (opt.apply_updates(params, updates), state), None

    @jax.jit
    def run(params):
        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
        return params

    return run(init)


@pytest.mark.parametrize(
    "name, quadratic_opt, rosenbrock_opt, steps", CONVERGENCE, ids=[c[0] for c in CONVERGENCE]
)
def test_converges(name, quadratic_opt, rosenbrock_opt, steps):
    problems = ((quadratic_opt, _quadratic()), (rosenbrock_opt, _rosenbrock()))
    for make, (init, loss, optimum) in problems:
        final = _minimize(make(), init, loss, steps)
        for got, want in zip(jax.tree_util.tree_leaves(final), jax.tree_util.tree_leaves(optimum)):
            # tolerance: convergence in `steps` steps (not rounding): within 3 % of the optimum
            np.testing.assert_allclose(got, want, rtol=3e-2, atol=3e-2)


# ---------------------------------------------------------------- structure and dtypes

STRUCTURE_CASES = [(t[0], t[1]) for t in TRANSCRIPTIONS] + [
    ("schedule", lambda: opt.sgd(schedules.exponential_decay(0.1, decay_rate=0.5, decay_steps=3))),
    ("clip_l1", lambda: opt.chain(opt.clip_by_value(0.5), opt.add_l1_decay(0.01), opt.sgd(0.1))),
]


@pytest.mark.parametrize("name, make", STRUCTURE_CASES, ids=[c[0] for c in STRUCTURE_CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_state_structure_and_dtypes(x64, key, name, make, dtype):
    dtype = jnp.dtype(dtype)
    params, grads_seq = _draw(key, dtype)
    optimizer = make()
    state = optimizer.init(params)
    # shapes and dtypes only: trace the update without compiling it
    updates, new_state = jax.eval_shape(optimizer.update, grads_seq[0], state, params)
    # the state tree is unchanged by update (so it can be a lax.scan carry), leaves keep dtypes
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)
    for old, new in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(new_state)):
        assert (old.shape, old.dtype) == (new.shape, new.dtype)
    # updates mirror the grads, with their dtype
    assert jax.tree_util.tree_structure(updates) == jax.tree_util.tree_structure(params)
    for u in jax.tree_util.tree_leaves(updates):
        assert u.dtype == dtype
    # every float leaf of the state has the params' dtype (hyperparameters: float32 or float64);
    # step counters are 0-d int32
    for leaf in jax.tree_util.tree_leaves(state):
        assert leaf.dtype in (dtype, jnp.dtype(jnp.int32))
        if leaf.dtype == jnp.int32:
            assert leaf.shape == ()


def test_hyperparams_are_float32_for_low_precision_params():
    params = {"w": jnp.zeros((2, 2), jnp.bfloat16)}
    state = opt.adam(1e-3).init(params)
    hyperparams = opt.get_hyperparams(state)
    assert sorted(hyperparams) == ["b1", "b2", "eps", "learning_rate"]
    assert all(v.dtype == jnp.float32 for v in hyperparams.values())
    updates, _ = opt.adam(1e-3).update({"w": jnp.ones((2, 2), jnp.bfloat16)}, state, params)
    assert updates["w"].dtype == jnp.bfloat16
    assert np.all(np.isfinite(np.asarray(updates["w"], np.float32)))


MISMATCHED = [
    {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)},  # a leaf missing
    ({"w": jnp.zeros((3, 2)), "b": jnp.zeros(2), "s": jnp.zeros(())},),  # wrapped in a tuple
]


@pytest.mark.parametrize("name, make", STRUCTURE_CASES, ids=[c[0] for c in STRUCTURE_CASES])
def test_mismatched_grads_tree_shows_both_structures(key, name, make):
    params, _ = _draw(key, jnp.float32)
    optimizer = make()
    state = optimizer.init(params)
    for bad in MISMATCHED:
        with pytest.raises(TypeError, match=r"params tree PyTreeDef\(.*grads tree PyTreeDef\("):
            optimizer.update(bad, state, params)
    with pytest.raises(TypeError, match=r"params tree .*updates tree "):
        opt.apply_updates(params, MISMATCHED[0])


def test_mismatched_grads_without_params_argument(key):
    params, _ = _draw(key, jnp.float32)
    optimizer = opt.adam(0.1)
    state = optimizer.init(params)
    with pytest.raises(TypeError, match=r"params given to init tree .*grads tree "):
        optimizer.update(MISMATCHED[0], state)
    bad_shape = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(2), "s": jnp.zeros(())}
    with pytest.raises(ValueError, match=r"leaf \['w'\] has shape \(2, 3\)"):
        optimizer.update(bad_shape, state)
    bad_dtype = {"w": jnp.zeros((3, 2), jnp.bfloat16), "b": jnp.zeros(2), "s": jnp.zeros(())}
    with pytest.raises(TypeError, match=r"leaf \['w'\] has dtype bfloat16"):
        optimizer.update(bad_dtype, state)


def test_bad_hyperparameters_are_clear_errors():
    with pytest.raises(TypeError, match="`learning_rate` must be a real number"):
        opt.adam("1e-3")
    with pytest.raises(ValueError, match=r"`learning_rate` must be a scalar .*got shape \(3,\)"):
        opt.sgd(jnp.ones(3))
    with pytest.raises(TypeError, match="`nesterov` must be a bool"):
        opt.sgd(0.1, 0.9, nesterov="yes")
    with pytest.raises(ValueError, match="`nesterov=True` needs a `momentum`"):
        opt.sgd(0.1, nesterov=True)
    with pytest.raises(TypeError, match=r"`transforms\[1\]` must be an Optimizer"):
        opt.chain(opt.sgd(0.1), "adam")
    with pytest.raises(ValueError, match="`params` must be passed to update"):
        o = opt.add_decayed_weights(0.1)
        o.update({"w": jnp.ones((2, 2))}, o.init({"w": jnp.ones((2, 2))}))
