"""Convolution train-step speed: fnnet's hand rules vs autodiff vs raw JAX vs PyTorch eager.

Two networks, one Adam train step each (forward, backward, update), timed round-robin in one
process so that machine load falls on all variants alike (the JAX variants together, then the
PyTorch ones: PyTorch's idle threads keep spinning after a step and would slow whatever runs
next); the median time per step is reported with ratios against fnnet's hand rules:

* ``mnist1d``: the MNIST-1D authors' ConvBase (Conv1d 1→25 k5 s2 p1, 25→25 k3 s2 p1 twice, ReLU,
  flatten 125 → Dense 10), batch 100 (``authors_cnn`` of ``examples/cnn_mnist1d.py``);
* ``digits``: the 2-d net of ``examples/cnn_digits.py`` without its dropout (Conv 32 3×3 SAME,
  ReLU, Conv 32 3×3 SAME, ReLU, max-pool 2, Conv 64 3×3 SAME, ReLU, max-pool 2, flatten 256 →
  Dense 10), batch 64 of 8×8×1 images.

Variants: ``hand`` (fnnet layers, hand-written rules), ``autodiff`` (the same fnnet forward
inside ``fnnet.autodiff()``: JAX differentiates the im2col forward), ``raw JAX`` (``jax.grad``
of ``lax.conv_general_dilated`` / ``lax.reduce_window``, optax-style Adam written inline), and
``torch`` (PyTorch eager, ``torch.set_num_threads(threads)``, channels-first as PyTorch wants).
Optionally ``--steps6000`` times recipe (a)'s 6,000 in-order steps on MNIST-1D as one compiled
``lax.scan`` (``run_authors`` of the example; compilation excluded).

Run: ``nice python benchmarks/conv.py [--rounds 7] [--steps 50] [--torch-steps 10] [--threads 2 1]
[--steps6000]``.
PyTorch's thread pool spins: on a loaded machine its 2-thread rows can be many times slower than
its 1-thread rows, so both are timed; the load average is printed first.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import losses, optimizers

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "examples"))
from cnn_digits import digits_cnn  # noqa: E402  (the networks of the results tables)
from cnn_mnist1d import authors_cnn, load, run_authors  # noqa: E402

# --- raw JAX: the same networks on lax primitives, differentiated by jax.grad -----------------
# (lax.conv_general_dilated / lax.reduce_window forwards shared with benchmarks/families.py)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from family_cases import raw_convbase as raw_mnist1d  # noqa: E402
from family_cases import raw_digits  # noqa: E402


def _raw_step(forward, lr=1e-2, b1=0.9, b2=0.999, eps=1e-8):
    def loss(params, x, y):
        logp = jax.nn.log_softmax(forward(params, x))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def step(state, x, y):
        params, m, v, t = state
        g = jax.grad(loss)(params, x, y)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        c1, c2 = 1 - b1**t, 1 - b2**t
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), params, m, v
        )
        return params, m, v, t

    return step


# --- PyTorch eager ----------------------------------------------------------------------------


def _torch_models():
    import torch
    from torch import nn

    mnist = nn.Sequential(
        nn.Conv1d(1, 25, 5, 2, 1), nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(),
        nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(125, 10),
    )  # fmt: skip
    digits = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 10),
    )  # fmt: skip
    return torch, mnist, digits


def _torch_step(torch, model, x, y, threads):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(y, np.int64))

    def step():
        torch.set_num_threads(threads)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


# --- timing -----------------------------------------------------------------------------------


def _jax_runner(step, state, x, y):
    holder = [state]

    def run():
        holder[0] = step(holder[0], x, y)

    def block():
        jax.block_until_ready(holder[0])

    return run, block


def time_round_robin(runners: dict, steps: int, rounds: int) -> dict:
    """Median seconds per step of each runner, timed in rotating round-robin order."""
    samples = {name: [] for name in runners}
    names = list(runners)
    for name in names:  # warm up: compile, first allocations
        run, block = runners[name]
        for _ in range(3):
            run()
        block()
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            run, block = runners[name]
            tic = time.perf_counter()
            for _ in range(steps):
                run()
            block()
            samples[name].append((time.perf_counter() - tic) / steps)
    return {name: statistics.median(s) for name, s in samples.items()}


def fnnet_step(net, x, y, *, autodiff: bool):
    train = fnnet.make_train_step(net.apply, losses.softmax_cross_entropy, optimizers.adam(1e-2))
    step = fnnet.with_autodiff(train) if autodiff else train
    jitted = jax.jit(lambda state, x, y: step(state, (x, y), jax.random.key(0))[0])
    return jitted, train.init(net.init(jax.random.key(0), x.shape))


def benchmark(
    name, net, raw_forward, torch_model, torch, x, y, steps, rounds, threads, torch_steps
):
    runners = {}
    for label, autodiff in (("fnnet hand rules", False), ("fnnet.autodiff", True)):
        step, state = fnnet_step(net, x, y, autodiff=autodiff)
        runners[label] = _jax_runner(step, state, x, y)
    params = net.init(jax.random.key(0), x.shape)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    raw_state = (params, zeros, zeros, jnp.zeros((), jnp.float32))
    runners["raw JAX (lax.conv + jax.grad)"] = _jax_runner(_raw_step(raw_forward), raw_state, x, y)
    times = time_round_robin(runners, steps, rounds)
    if torch is not None:  # timed apart: its idle threads spin on and would slow the JAX runs
        channels_first = np.moveaxis(np.asarray(x), -1, 1).copy()
        peers = {}
        for n in threads:
            step = _torch_step(torch, torch_model, channels_first, y, n)
            peers[f"PyTorch eager, {n} thread{'s' * (n > 1)}"] = (step, lambda: None)
        times.update(time_round_robin(peers, torch_steps, rounds))
    base = times["fnnet hand rules"]
    print(f"\n{name}: batch {x.shape[0]}, input {x.shape[1:]}, median of {rounds} rounds")
    print("| variant | ms / step | time / hand rules |\n| --- | --- | --- |")
    for label, t in times.items():
        print(f"| {label} | {1e3 * t:.3f} | {t / base:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed round")
    parser.add_argument("--torch-steps", type=int, default=10, help="PyTorch steps per round")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="PyTorch threads")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--steps6000", action="store_true", help="time recipe (a)'s 6,000 steps")
    args = parser.parse_args()
    torch = mnist_model = digits_model = None
    if not args.no_torch:
        torch, mnist_model, digits_model = _torch_models()
        torch.manual_seed(0)
    rng = np.random.default_rng(0)
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}; torch {torch.__version__ if torch else '-'}, load {os.getloadavg()}"
    )
    x1 = jnp.asarray(rng.normal(size=(100, 40, 1)), jnp.float32)
    y1 = jnp.asarray(rng.integers(0, 10, 100), jnp.int32)
    benchmark(
        "MNIST-1D ConvBase", authors_cnn(), raw_mnist1d, mnist_model, torch, x1, y1,
        args.steps, args.rounds, args.threads, args.torch_steps,
    )  # fmt: skip
    x2 = jnp.asarray(rng.uniform(size=(64, 8, 8, 1)), jnp.float32)
    y2 = jnp.asarray(rng.integers(0, 10, 64), jnp.int32)
    benchmark(
        "digits 2-d CNN", digits_cnn(dropout=0.0), raw_digits, digits_model, torch, x2, y2,
        args.steps, args.rounds, args.threads, args.torch_steps,
    )  # fmt: skip
    if args.steps6000:
        train, test = load(shuffle_positions=False)
        accuracy, seconds = run_authors(0, train, test)
        print(
            f"\nrecipe (a) on MNIST-1D, seed 0: 6,000 in-order steps in one compiled scan: "
            f"{seconds:.2f} s of training (compilation excluded), test accuracy {100 * accuracy:.1f}%"
        )


if __name__ == "__main__":
    main()
