"""fnnet's optimizers and schedules against NumPy transcriptions of optax's and PyTorch's
formulas (read from their source: optax/_src/transform.py, alias.py, schedule.py; torch 2.13
torch/optim/{adagrad,rmsprop,adam,adamw}.py). Each test states the convention difference and
checks where the formulas coincide (and that they do differ otherwise). docs/optimizers.md
lists the same differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import optimizers as opt
from fnnet import schedules
from fnnet.gradcheck import assert_close

STEPS = 6


def _grads(seed=0, shape=(3, 2)):
    rng = np.random.default_rng(seed)
    # a large gradient first, then small ones: the second moment shrinks (AMSGrad's max matters)
    scales = [3.0, 0.1, 0.05, 2.0, 0.01, 0.3]
    return [scales[i] * rng.standard_normal(shape) for i in range(STEPS)]


def _run_fnnet(optimizer, theta, grads):
    """fnnet in float64, one leaf (or a dict of leaves); returns the params after each step."""
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), theta)
        state = optimizer.init(params)
        out = []
        for g in grads:
            g = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), g)
            updates, state = optimizer.update(g, state, params)
            params = opt.apply_updates(params, updates)
            out.append(jax.tree_util.tree_map(np.asarray, params))
    return out


# ---------------------------------------------------------------- AdaGrad


def torch_adagrad(theta, grads, lr, eps, g0=0.0):
    """torch.optim.Adagrad (lr_decay=0): state_sum += g²; θ -= lr g / (√state_sum + eps)."""
    state_sum, out = np.full_like(theta, g0), []
    for g in grads:
        state_sum = state_sum + g * g
        theta = theta - lr * g / (np.sqrt(state_sum) + eps)
        out.append(theta)
    return out


def optax_adagrad(theta, grads, lr, eps, g0=0.1):
    """optax.adagrad / scale_by_rss: G += g²; u = g · rsqrt(G + eps) where G > 0, else 0."""
    G, out = np.full_like(theta, g0), []
    for g in grads:
        G = G + g * g
        inv = np.where(G > 0, 1.0 / np.sqrt(G + eps), 0.0)
        theta = theta - lr * inv * g
        out.append(theta)
    return out


def test_adagrad_eps_outside_the_root_as_torch_inside_in_optax():
    theta, grads = np.ones((3, 2)), _grads(1)
    got = _run_fnnet(opt.adagrad(0.1, initial_accumulator_value=0.0, eps=1e-10), theta, grads)
    assert_close(got, torch_adagrad(theta, grads, 0.1, 1e-10))
    # optax's form coincides only without eps (G₀ = optax's default 0.1)
    got = _run_fnnet(opt.adagrad(0.1, initial_accumulator_value=0.1, eps=0.0), theta, grads)
    assert_close(got, optax_adagrad(theta, grads, 0.1, 0.0))
    # with eps, tiny gradients show the difference: g/(|g| + ε) ≈ 1 vs g/√(g² + ε) ≈ 0.3
    tiny = [np.full((3, 2), 1e-4)]
    fnnet_step = _run_fnnet(opt.adagrad(1.0, eps=1e-7), theta, tiny)[0] - theta
    optax_step = optax_adagrad(theta, tiny, 1.0, 1e-7, g0=0.0)[0] - theta
    assert_close(fnnet_step, np.full((3, 2), -1e-4 / (1e-4 + 1e-7)))
    assert_close(optax_step, np.full((3, 2), -1e-4 / np.sqrt(1e-8 + 1e-7)))


# ---------------------------------------------------------------- RMSprop


def optax_rmsprop(theta, grads, lr, decay, eps):
    """optax.rmsprop / scale_by_rms: ν = decay ν + (1 − decay) g²; u = g · rsqrt(ν + eps)."""
    nu, out = np.zeros_like(theta), []
    for g in grads:
        nu = decay * nu + (1 - decay) * g * g
        theta = theta - lr * g / np.sqrt(nu + eps)
        out.append(theta)
    return out


def torch_rmsprop(theta, grads, lr, alpha, eps, centered=False):
    """torch.optim.RMSprop: avg = √(square_avg [− grad_avg²]) + eps; θ -= lr g / avg."""
    square_avg, grad_avg, out = np.zeros_like(theta), np.zeros_like(theta), []
    for g in grads:
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        grad_avg = grad_avg + (1 - alpha) * (g - grad_avg)  # lerp_(grad, 1 − alpha)
        var = square_avg - grad_avg**2 if centered else square_avg
        theta = theta - lr * g / (np.sqrt(var) + eps)
        out.append(theta)
    return out


def test_rmsprop_eps_inside_the_root_as_optax_outside_in_torch():
    theta, grads = np.ones((3, 2)), _grads(2)
    got = _run_fnnet(opt.rmsprop(0.01, decay=0.9, eps=1e-3), theta, grads)
    assert_close(got, optax_rmsprop(theta, grads, 0.01, 0.9, 1e-3))
    with pytest.raises(AssertionError):  # not torch's: ε outside the root
        assert_close(got, torch_rmsprop(theta, grads, 0.01, 0.9, 1e-3))
    # without eps the three agree (torch's default alpha is 0.99, fnnet's and optax's decay 0.9)
    for centered in (False, True):
        got = _run_fnnet(opt.rmsprop(0.01, decay=0.99, eps=0.0, centered=centered), theta, grads)
        want = torch_rmsprop(theta, grads, 0.01, 0.99, 0.0, centered=centered)
        assert_close(got, want)


# ---------------------------------------------------------------- AMSGrad


def paper_amsgrad(theta, grads, lr, b1, b2, eps):
    m, v, v_max = (np.zeros_like(theta) for _ in range(3))
    out = []
    for g in grads:  # Reddi et al., Algorithm 2: no bias correction
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = np.maximum(v_max, v)
        theta = theta - lr * m / (np.sqrt(v_max) + eps)
        out.append(theta)
    return out


def torch_amsgrad(theta, grads, lr, b1, b2, eps):
    """torch.optim.Adam(amsgrad=True): max over the raw v, then v's bias correction."""
    m, v, v_max = (np.zeros_like(theta) for _ in range(3))
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = np.maximum(v_max, v)
        denom = np.sqrt(v_max) / np.sqrt(1 - b2**t) + eps
        theta = theta - lr / (1 - b1**t) * m / denom
        out.append(theta)
    return out


def optax_amsgrad(theta, grads, lr, b1, b2, eps):
    """optax.amsgrad: max over the bias-corrected v̂, m̂ bias-corrected."""
    m, v, v_hat_max = (np.zeros_like(theta) for _ in range(3))
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_hat_max = np.maximum(v_hat_max, v / (1 - b2**t))
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v_hat_max) + eps)
        out.append(theta)
    return out


def test_amsgrad_paper_form_and_its_two_bias_corrected_variants():
    theta, grads = np.ones((3, 2)), _grads(3)
    got = _run_fnnet(opt.amsgrad(0.1), theta, grads)  # defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8
    assert_close(got, paper_amsgrad(theta, grads, 0.1, 0.9, 0.999, 1e-8))
    torch_out = torch_amsgrad(theta, grads, 0.1, 0.9, 0.999, 1e-8)
    optax_out = optax_amsgrad(theta, grads, 0.1, 0.9, 0.999, 1e-8)
    # step 1: fnnet's step is (1 − β₁)/√(1 − β₂) ≈ 3.16 times the bias-corrected ±η (eps → 0)
    ratio = (got[0] - theta) / (torch_out[0] - theta)
    # tolerance: ε = 1e-8 moves the ratio away from the ε → 0 value by ~ε/|g|, not rounding
    np.testing.assert_allclose(ratio, (1 - 0.9) / np.sqrt(1 - 0.999), rtol=1e-5)
    assert_close(torch_out[0], optax_out[0])  # equal at t = 1 ...
    with pytest.raises(AssertionError):  # ... not once v shrinks
        assert_close(torch_out[-1], optax_out[-1])
    # with β₁ = β₂ = 0 there is nothing to correct: all three coincide
    got = _run_fnnet(opt.amsgrad(0.1, b1=0.0, b2=0.0, eps=1e-8), theta, grads)
    for other in (torch_amsgrad, optax_amsgrad):
        assert_close(got, other(theta, grads, 0.1, 0.0, 0.0, 1e-8))


# ---------------------------------------------------------------- AdamW


def torch_adamw(theta, grads, lr, b1, b2, eps, wd):
    """torch.optim.AdamW: θ ← θ(1 − lr·wd) on every parameter, then the Adam step."""
    m, v, out = np.zeros_like(theta), np.zeros_like(theta), []
    for t, g in enumerate(grads, start=1):
        theta = theta * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = np.sqrt(v) / np.sqrt(1 - b2**t) + eps
        theta = theta - lr / (1 - b1**t) * m / denom
        out.append(theta)
    return out


def test_adamw_decays_weights_only_torch_and_optax_decay_every_leaf():
    theta = {"w": np.ones((3, 2)), "b": np.full(2, 0.5)}
    grads_w, grads_b = _grads(4), _grads(5, shape=(2,))
    grads = [{"w": w, "b": b} for w, b in zip(grads_w, grads_b)]
    every = {"w": True, "b": True}  # optax's mask=None, torch's whole parameter group
    got = _run_fnnet(opt.adamw(1e-2, weight_decay=0.1, mask=every), theta, grads)
    for name, gs in (("w", grads_w), ("b", grads_b)):
        want = torch_adamw(theta[name], gs, 1e-2, 0.9, 0.999, 1e-8, 0.1)
        assert_close([p[name] for p in got], want)
    default = _run_fnnet(opt.adamw(1e-2, weight_decay=0.1), theta, grads)
    assert_close([p["w"] for p in default], [p["w"] for p in got])
    plain = torch_adamw(theta["b"], grads_b, 1e-2, 0.9, 0.999, 1e-8, 0.0)  # biases: no decay
    assert_close([p["b"] for p in default], plain)


# ---------------------------------------------------------------- schedules


def optax_exponential_decay(init_value, transition_steps, decay_rate):
    """optax.exponential_decay(init_value, transition_steps, decay_rate): v·r^(t/T)."""
    return lambda t: init_value * decay_rate ** (t / transition_steps)


def optax_piecewise_constant(init_value, boundaries_and_scales):
    """optax.piecewise_constant_schedule: scales multiplied in from each boundary on."""

    def schedule(t):
        v = init_value
        for boundary, scale in sorted(boundaries_and_scales.items()):
            v = v * (scale if t >= boundary else 1.0)
        return v

    return schedule


def test_schedules_against_optax_argument_conventions(x64):
    steps = np.arange(40)
    ours = schedules.exponential_decay(0.1, decay_rate=0.5, decay_steps=8)
    theirs = optax_exponential_decay(0.1, 8, 0.5)  # same numbers, optax's positional order
    assert_close(ours(jnp.asarray(steps)), theirs(steps))
    # optax takes scales relative to the previous value; fnnet takes the absolute values
    scales = {10: 0.5, 25: 0.1}
    values = 0.1 * np.cumprod([1.0, 0.5, 0.1])
    ours = schedules.piecewise_constant([10, 25], values=values)
    want = [optax_piecewise_constant(0.1, scales)(t) for t in steps]
    assert_close(ours(jnp.asarray(steps)), np.asarray(want))
    with pytest.raises(TypeError):  # a positional optax port cannot swap T and r silently
        schedules.exponential_decay(0.1, 8, 0.5)
