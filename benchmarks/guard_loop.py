"""The train step in the loops users write: per step, fnnet against raw JAX, in one process.

    python benchmarks/guard_loop.py                          # tiny, small, medium; 15 rounds
    python benchmarks/guard_loop.py --configs small --rounds 31

Python-loop mode (one jitted call per step, the same batch each call, the state donated):

* ``raw_loop``: raw JAX (``jax.value_and_grad`` of the plain ``jnp`` network, Adam in ``jnp``);
* ``step_loop``: ``jax.jit(make_train_step(...).step)``, the full exact per-step guard;
* ``step_loop_keyed``: the same with a fresh key per call, ``fold_in(key, state.step)`` inside
  the jitted function (the key schedule ``fit`` uses; what a loop with dropout should do);
* ``step_loop_host_key``: ``fold_in(key, i)`` computed on the host before each call (a
  dispatch of its own: what not to do);

``lax.scan`` mode (``k`` steps per call, batches stacked on a leading axis; time per step):

* ``raw_scan``: the raw-JAX step in ``lax.scan``;
* ``exact_scan``: the full per-step guard in ``lax.scan`` (``make_train_step(...).step``);
* ``steps``: ``jax.jit(make_train_step(...).steps)``, the k-step path (loss and gradients
  checked per step, the state once per call, an exact replay only if that fails);
* ``fit_scan``: the step ``fit``'s epochs scan (``check_update=False``; ``fit`` checks the
  state once per epoch).

Variants are timed in interleaved rounds (each round runs every variant for about
``--seconds``); the table gives medians of wall and process CPU time per step (CPU time: all
threads of this process; on a shared machine the steadier measure of the work) and the median
of per-round ratios to raw JAX in the same mode. Equal work is checked first: every variant's
first loss from the same weights and batch equals raw JAX's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from configs import CONFIGS  # noqa: E402
from jax_variants import B1, B2, EPS, LEARNING_RATE, raw_jax_variant  # noqa: E402

import fnnet  # noqa: E402
from fnnet import activations, losses  # noqa: E402


def _fnnet_net(config):
    act = {"relu": activations.relu, "sigmoid": activations.sigmoid}[config.activation]
    hidden, classes = config.sizes[1:-1], config.sizes[-1]
    return fnnet.serial(*[fnnet.Dense(n, act) for n in hidden], fnnet.Dense(classes))


def build(config, k: int):
    """``{name: (mode, fresh_state, call)}``; ``call(state) -> (state, loss_of_first_step)``."""
    key = jax.random.key(0)
    net = _fnnet_net(config)
    params0 = net.init(key, config.sizes[0])
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.standard_normal((k, config.batch, config.sizes[0]), dtype=np.float32))
    ys = jnp.asarray(rng.integers(0, config.sizes[-1], (k, config.batch)).astype(np.int32))
    x, y = xs[0], ys[0]
    raw = raw_jax_variant(config, lambda: [(jnp.copy(w), jnp.copy(b)) for w, b in params0])

    def make(check_update=True):
        optimizer = fnnet.optimizers.adam(LEARNING_RATE, B1, B2, EPS)
        sce = losses.softmax_cross_entropy
        return fnnet.make_train_step(net.apply, sce, optimizer, check_update=check_update)

    exact, unchecked = make(), make(check_update=False)

    def fresh():
        return exact.init(jax.tree_util.tree_map(jnp.copy, params0))

    raw_step = jax.jit(raw.step, donate_argnums=0)
    step = jax.jit(exact.step, donate_argnums=0)

    def raw_loop(s):
        return raw_step(s, x, y)

    def step_loop(s):
        s, m = step(s, (x, y), key)
        return s, m.loss

    keyed = jax.jit(
        lambda s, batch: exact.step(s, batch, jax.random.fold_in(key, s.step)), donate_argnums=0
    )

    def step_loop_keyed(s):
        s, m = keyed(s, (x, y))
        return s, m.loss

    counter = [0]

    def step_loop_host_key(s):
        counter[0] += 1
        s, m = step(s, (x, y), jax.random.fold_in(key, counter[0]))
        return s, m.loss

    raw_scan_fn = jax.jit(
        lambda s, xs, ys: jax.lax.scan(lambda c, b: raw.step(c, *b), s, (xs, ys)),
        donate_argnums=0,
    )

    def exact_scan_fn(s, xs, ys):
        def body(c, b):
            c, m = exact.step(c, b, jax.random.fold_in(key, c.step))
            return c, m.loss

        return jax.lax.scan(body, s, (xs, ys))

    exact_scan_jit = jax.jit(exact_scan_fn, donate_argnums=0)
    steps_jit = jax.jit(exact.steps, donate_argnums=0)
    fit_jit = jax.jit(unchecked.steps, donate_argnums=0)

    def first(pair):
        s, per_step = pair
        return s, getattr(per_step, "loss", per_step)[0]

    variants = {
        "raw_loop": ("loop", raw.init_state, raw_loop),
        "step_loop": ("loop", fresh, step_loop),
        "step_loop_keyed": ("loop", fresh, step_loop_keyed),
        "step_loop_host_key": ("loop", fresh, step_loop_host_key),
        "raw_scan": ("scan", raw.init_state, lambda s: first(raw_scan_fn(s, xs, ys))),
        "exact_scan": ("scan", fresh, lambda s: first(exact_scan_jit(s, xs, ys))),
        "steps": ("scan", fresh, lambda s: first(steps_jit(s, (xs, ys), key))),
        "fit_scan": ("scan", fresh, lambda s: first(fit_jit(s, (xs, ys), key))),
    }
    return variants


def measure(config, k: int, rounds: int, seconds: float, modes=("loop", "scan")):
    variants = {n: v for n, v in build(config, k).items() if v[0] in modes}
    states, calls, first_loss = {}, {}, {}
    for name, (_, fresh, call) in variants.items():
        state, loss = call(fresh())  # compile, warm up, and record the first loss
        first_loss[name] = float(loss)
        jax.block_until_ready(state)
        tic = time.perf_counter()
        state, _ = call(state)
        jax.block_until_ready(state)
        per_call = max(time.perf_counter() - tic, 1e-6)
        calls[name] = max(1, int(seconds / per_call))
        states[name] = state
    reference = first_loss["raw_loop" if "loop" in modes else "raw_scan"]
    for name, value in first_loss.items():
        if abs(value - reference) > 1e-5 * max(1.0, abs(reference)):
            raise AssertionError(f"{name}: first loss {value} != raw JAX's {reference}")
    times = {name: {"wall": [], "cpu": []} for name in variants}
    for _ in range(rounds):
        for name, (mode, _, call) in variants.items():
            state = states[name]
            jax.block_until_ready(state)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls[name]):
                state, _ = call(state)
            jax.block_until_ready(state)
            steps = calls[name] * (k if mode == "scan" else 1)
            times[name]["wall"].append((time.perf_counter() - wall) / steps)
            times[name]["cpu"].append((time.process_time() - cpu) / steps)
            states[name] = state
    return variants, times


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e3:.3f} ms"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="tiny,small,medium")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.15, help="per variant and round")
    parser.add_argument("--k", type=int, default=0, help="steps per scanned call (0: config's)")
    parser.add_argument("--modes", default="loop,scan", help="loop, scan or both")
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}, load {os.getloadavg()}")
    print("| network | variant | wall / step | CPU / step | wall ratio | CPU ratio |")
    print("|---|---|---|---|---|---|")
    for name in args.configs.split(","):
        config = CONFIGS[name]
        k = args.k or config.scan_steps
        modes = tuple(args.modes.split(","))
        variants, times = measure(config, k, args.rounds, args.seconds, modes)
        for variant, (mode, _, _) in variants.items():
            base = "raw_loop" if mode == "loop" else "raw_scan"
            t, b = times[variant], times[base]
            ratio = {
                kind: float(np.median(np.array(t[kind]) / np.array(b[kind])))
                for kind in ("wall", "cpu")
            }
            label = f"{config.describe()}, k={k}" if mode == "scan" else config.describe()
            print(
                f"| {label} | `{variant}` | {_fmt(np.median(t['wall']))} | "
                f"{_fmt(np.median(t['cpu']))} | {ratio['wall']:.3f} | {ratio['cpu']:.3f} |",
                flush=True,
            )
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
