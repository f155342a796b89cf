"""Recurrent train-step speed: fnnet's hand BPTT vs autodiff vs raw JAX vs PyTorch eager.

The network is the MNIST-1D authors' ``GRUBase``: a bidirectional GRU (1 feature, 6 hidden per
direction) over 40 steps, all outputs flattened (480) → linear 10, batch 100, Adam 1e-2,
softmax cross-entropy. One train step = forward, backward, update. Variants:

* ``hand``: ``fnnet.recurrent.Bidirectional(GRU(6))`` in ``fnnet.layers.serial``, the
  hand-written BPTT rules (``gru_sequence`` and ``bidirectional``);
* ``autodiff``: the same fnnet forward inside ``fnnet.autodiff()``: JAX differentiates the
  forward ``lax.scan`` itself;
* ``raw JAX``: ``jax.grad`` through a ``lax.scan`` of a GRU cell written here in plain ``jnp``
  (reverse direction by ``jnp.flip``, no masking), the same shapes and Adam;
* ``torch``: PyTorch eager ``nn.GRU(bidirectional=True, batch_first=True)`` + ``nn.Linear``,
  ``torch.optim.Adam``, ``torch.set_num_threads(threads)``.

The JAX variants run ``--steps`` in-order steps per call inside one compiled ``lax.scan`` (the
way ``examples/rnn_mnist1d.py`` trains); PyTorch runs them in a Python loop. All variants are
timed round-robin in one process (load falls on all alike); the median time per step over
``--rounds`` rounds is reported with ratios against ``hand`` (and the minimum, less sensitive
to other processes on a shared machine). Also reported: the compile time of
one jitted train step and of the ``--steps``-step scan, hand vs raw JAX (``lax.scan``'s backward
is slow to compile on CPU, jax-ml/jax#772), and ``--steps6000``: the wall time of the recipe's
6,000 steps for one seed (compile included, then without).

Data are random with MNIST-1D's shapes (4,000 × 40 × 1, 10 classes): speed does not depend on
the values. Run: ``nice python benchmarks/recurrent.py [--rounds 7] [--steps 50] [--threads 2]
[--steps6000]``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import initializers, layers, losses, optimizers, recurrent

N, T, HIDDEN, BATCH, CLASSES, LR = 4000, 40, 6, 100, 10, 1e-2


def fnnet_net() -> fnnet.layers.Layer:
    linear = initializers.uniform(1.0 / math.sqrt(T * 2 * HIDDEN))
    return layers.serial(
        recurrent.Bidirectional(recurrent.GRU(HIDDEN)),
        layers.Flatten(2),
        layers.Dense(CLASSES, w_init=linear, b_init=linear),
    )


# --- raw JAX: a GRU cell in plain jnp, jax.grad through lax.scan ------------------------------


def raw_init(key):
    keys = jax.random.split(key, 10)
    u = lambda k, shape, bound: jax.random.uniform(k, shape, jnp.float32, -bound, bound)  # noqa: E731
    b = 1.0 / math.sqrt(HIDDEN)
    directions = [
        {
            "w_ih": u(keys[4 * d], (1, 3 * HIDDEN), b),
            "w_hh": u(keys[4 * d + 1], (HIDDEN, 3 * HIDDEN), b),
            "b_ih": u(keys[4 * d + 2], (3 * HIDDEN,), b),
            "b_hh": u(keys[4 * d + 3], (3 * HIDDEN,), b),
        }
        for d in range(2)
    ]
    bl = 1.0 / math.sqrt(T * 2 * HIDDEN)
    linear = {"w": u(keys[8], (T * 2 * HIDDEN, CLASSES), bl), "b": u(keys[9], (CLASSES,), bl)}
    return directions, linear


def raw_gru(p, x):
    def cell(h, x_t):
        gi = x_t @ p["w_ih"] + p["b_ih"]
        gh = h @ p["w_hh"] + p["b_hh"]
        r = jax.nn.sigmoid(gi[:, :HIDDEN] + gh[:, :HIDDEN])
        z = jax.nn.sigmoid(gi[:, HIDDEN : 2 * HIDDEN] + gh[:, HIDDEN : 2 * HIDDEN])
        n = jnp.tanh(gi[:, 2 * HIDDEN :] + r * gh[:, 2 * HIDDEN :])
        h = (1.0 - z) * n + z * h
        return h, h

    h0 = jnp.zeros((x.shape[0], HIDDEN), x.dtype)
    return jnp.swapaxes(jax.lax.scan(cell, h0, jnp.swapaxes(x, 0, 1))[1], 0, 1)


def raw_apply(params, x):
    directions, linear = params
    forward = raw_gru(directions[0], x)
    backward = jnp.flip(raw_gru(directions[1], jnp.flip(x, axis=1)), axis=1)
    flat = jnp.concatenate([forward, backward], axis=-1).reshape(x.shape[0], -1)
    return flat @ linear["w"] + linear["b"]


# --- the JAX variants: a scan of in-order Adam steps ------------------------------------------


def jax_step(apply):
    optimizer = optimizers.adam(LR)

    def loss(params, x, y):
        return losses.softmax_cross_entropy(apply(params, x), y)

    def step(state, batch):
        params, opt_state = state
        value, grads = jax.value_and_grad(loss)(params, *batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optimizers.apply_updates(params, updates), opt_state), value

    return optimizer, step


def jax_variant(name, apply, params, x, y, steps):
    optimizer, step = jax_step(apply)
    batches = N // BATCH

    def many(state, start):
        def body(state, i):
            s = ((start + i) % batches) * BATCH
            batch = (
                jax.lax.dynamic_slice_in_dim(x, s, BATCH),
                jax.lax.dynamic_slice_in_dim(y, s, BATCH),
            )
            return step(state, batch)

        return jax.lax.scan(body, state, jnp.arange(steps))

    state = (params, optimizer.init(params))
    t0 = time.perf_counter()
    one = jax.jit(step).lower(state, (x[:BATCH], y[:BATCH])).compile()
    compile_step = time.perf_counter() - t0
    t0 = time.perf_counter()
    scan = jax.jit(many).lower(state, 0).compile()
    compile_scan = time.perf_counter() - t0
    del one
    box = {"state": state, "start": 0}

    def run():
        box["state"], losses_ = scan(box["state"], box["start"])
        box["start"] += steps
        jax.block_until_ready(losses_)

    return {
        "name": name,
        "run": run,
        "compile_step_s": compile_step,
        "compile_scan_s": compile_scan,
    }


def torch_variant(x, y, steps, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    gru = nn.GRU(1, HIDDEN, batch_first=True, bidirectional=True)
    linear = nn.Linear(T * 2 * HIDDEN, CLASSES)
    params = list(gru.parameters()) + list(linear.parameters())
    optimizer = torch.optim.Adam(params, lr=LR)
    xt, yt = torch.tensor(np.asarray(x)), torch.tensor(np.asarray(y), dtype=torch.long)
    box = {"start": 0}

    def run():
        for i in range(steps):
            s = ((box["start"] + i) % (N // BATCH)) * BATCH
            out, _ = gru(xt[s : s + BATCH])
            loss = nn.functional.cross_entropy(linear(out.reshape(BATCH, -1)), yt[s : s + BATCH])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        box["start"] += steps

    return {"name": f"torch eager ({threads} thr)", "run": run}


def torch_agreement() -> None:
    """Print fnnet's Elman/LSTM/GRU against PyTorch's nn.RNN/LSTM/GRU in float64 (weights copied,
    ``weight_ih_l0 = w_ih.T``): the largest differences of outputs, final states and gradients."""
    import torch
    from torch import nn

    b, t, f, h = 3, 7, 2, 4
    x = np.random.default_rng(0).standard_normal((b, t, f))
    peers = {"elman": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    cells = {"elman": recurrent.Elman, "lstm": recurrent.LSTM, "gru": recurrent.GRU}
    with jax.enable_x64(True):
        for name, make in cells.items():
            layer = make(h, dtype=jnp.float64)
            p = layer.init(jax.random.key(0), (b, t, f))
            peer = peers[name](f, h, batch_first=True).double()
            with torch.no_grad():
                for ours, theirs in (("w_ih", "weight_ih_l0"), ("w_hh", "weight_hh_l0")):
                    getattr(peer, theirs).copy_(torch.tensor(np.asarray(getattr(p, ours)).T))
                peer.bias_ih_l0.copy_(torch.tensor(np.asarray(p.b_ih)))
                peer.bias_hh_l0.copy_(torch.tensor(np.asarray(p.b_hh)))
            xt = torch.tensor(x, requires_grad=True)
            yt, _ = peer(xt)
            yt.sin().sum().backward()
            xj = jnp.asarray(x)
            y = layer.apply(p, xj)
            gp, gx = jax.grad(lambda p, x: jnp.sum(jnp.sin(layer.apply(p, x))), (0, 1))(p, xj)
            diffs = [
                np.abs(np.asarray(y) - yt.detach().numpy()).max(),
                np.abs(np.asarray(gx) - xt.grad.numpy()).max(),
                np.abs(np.asarray(gp.w_hh).T - peer.weight_hh_l0.grad.numpy()).max(),
                np.abs(np.asarray(gp.b_ih) - peer.bias_ih_l0.grad.numpy()).max(),
            ]
            print(
                f"  {name:6s} vs torch (float64): outputs, ∂x, ∂w_hh, ∂b_ih max |diff| "
                + ", ".join(f"{d:.1e}" for d in diffs)
            )


def time_round_robin(variants, rounds, steps):
    for v in variants:
        v["run"]()  # warm-up
        v["samples"] = []
    for r in range(rounds):
        for i in range(len(variants)):
            v = variants[(r + i) % len(variants)]
            t0 = time.perf_counter()
            v["run"]()
            v["samples"].append((time.perf_counter() - t0) / steps)
    for v in variants:
        v["median_s"] = statistics.median(v["samples"])
        v["min_s"] = min(v["samples"])


def steps6000(x, y, params):
    optimizer, step = jax_step(fnnet_net().apply)
    batches = N // BATCH

    def train(params):
        def body(state, i):
            s = (i % batches) * BATCH
            batch = (
                jax.lax.dynamic_slice_in_dim(x, s, BATCH),
                jax.lax.dynamic_slice_in_dim(y, s, BATCH),
            )
            return step(state, batch)

        return jax.lax.scan(body, (params, optimizer.init(params)), jnp.arange(6000))[1]

    t0 = time.perf_counter()
    compiled = jax.jit(train).lower(params).compile()
    t1 = time.perf_counter()
    jax.block_until_ready(compiled(params))
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=50, help="train steps per timed call")
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--steps6000", action="store_true")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()}, jax {jax.__version__}, {jax.devices()[0].platform}")
    if not args.no_torch:
        torch_agreement()
    kx, ky, kp = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (N, T, 1), jnp.float32)
    y = jax.random.randint(ky, (N,), 0, CLASSES)
    net = fnnet_net()
    params = net.init(kp, (BATCH, T, 1))
    raw_params = raw_init(kp)
    counts = [sum(a.size for a in jax.tree_util.tree_leaves(p)) for p in (params, raw_params)]
    assert counts == [5134, 5134], counts
    variants = [
        jax_variant("fnnet hand BPTT", net.apply, params, x, y, args.steps),
        jax_variant("fnnet.autodiff", fnnet.with_autodiff(net.apply), params, x, y, args.steps),
        jax_variant("raw JAX (grad of lax.scan)", raw_apply, raw_params, x, y, args.steps),
    ]
    if not args.no_torch:
        variants += [torch_variant(x, y, args.steps, t) for t in args.threads]
    time_round_robin(variants, args.rounds, args.steps)
    hand = variants[0]["median_s"]
    print(f"\nBiGRU MNIST-1D train step, batch {BATCH}, median of {args.rounds} rounds")
    print(
        f"{'variant':30s} {'ms/step':>9s} {'vs hand':>8s} {'min ms':>8s} {'vs hand':>8s} "
        f"{'compile step':>13s} {'compile scan':>13s}"
    )
    for v in variants:
        compile_cols = (
            f"{v['compile_step_s']:12.2f}s {v['compile_scan_s']:12.2f}s"
            if "compile_step_s" in v
            else f"{'':13s} {'':13s}"
        )
        ratio, ratio_min = v["median_s"] / hand, v["min_s"] / variants[0]["min_s"]
        print(
            f"{v['name']:30s} {1e3 * v['median_s']:9.3f} {ratio:7.2f}x {1e3 * v['min_s']:8.3f} "
            f"{ratio_min:7.2f}x {compile_cols}"
        )
    if args.steps6000:
        total, run = steps6000(x, y, params)
        print(
            f"\n6,000 steps, one seed, hand BPTT: {total:.1f} s wall ({run:.1f} s after compiling)"
        )


if __name__ == "__main__":
    main()
