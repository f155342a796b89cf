"""Why an exact new-state guard costs an optimizer pass: Adam's elementwise update on 4 M
float32 parameters, alone and with the finiteness decision made in different ways.

    python benchmarks/guard_kernels.py

Prints the fusions/reductions XLA compiles and the median process CPU time per call (15
interleaved rounds). Variants: ``update`` (no check), ``check_outputs`` (update, then one sum of
``x − x`` per output: detects but cannot reject), ``combined_outputs`` (one sum over all
outputs), ``where_outputs`` (update out of place, check, ``where`` select: the
select-after-update copy), ``per_leaf_cond`` (check the candidate recomputed from the inputs,
one reduction per leaf, then ``lax.cond``), ``combined_cond`` (the same with one reduction over
all candidate leaves: what ``make_train_step`` does per parameter shape), ``dot_cond`` (the
same sum as a matrix-vector product with ones: XLA:CPU then writes the summand out in a loop
that runs on both cores, a parameter-sized scratch, and reduces it in parallel; its scalar
reductions run on one thread), ``materialised_cond``
(the update computed once out of place, one reduction over it, then ``lax.cond`` between it and
the old state: faster, but a state-sized scratch).
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from fnnet.training import all_finite

N = 4 * 1024 * 1024


def update(p, g, m, v):
    m2 = 0.9 * m + 0.1 * g
    v2 = 0.999 * v + 0.001 * g * g
    return p - 1e-3 * m2 / (jnp.sqrt(v2) + 1e-8), m2, v2


def zero_sum(*leaves):  # the library's own check: one sum of x − x over leaves of one shape
    return all_finite(leaves)


def check_outputs(p, g, m, v):
    out = update(p, g, m, v)
    return out, sum(jnp.sum(x - x) for x in out) == 0


def combined_outputs(p, g, m, v):
    out = update(p, g, m, v)
    return out, zero_sum(*out)


def where_outputs(p, g, m, v):
    out = update(p, g, m, v)
    ok = zero_sum(*out)
    return tuple(jnp.where(ok, a, b) for a, b in zip(out, (p, m, v)))


def per_leaf_cond(p, g, m, v):
    ok = sum(jnp.sum(x - x) for x in update(p, g, m, v)) == 0
    return jax.lax.cond(ok, lambda: update(p, g, m, v), lambda: (p, m, v))


def combined_cond(p, g, m, v):
    ok = zero_sum(*update(p, g, m, v))
    return jax.lax.cond(ok, lambda: update(p, g, m, v), lambda: (p, m, v))


def dot_cond(p, g, m, v):
    t = sum(x - x for x in update(p, g, m, v)).reshape(-1, 256)  # N divides by 256
    ok = jnp.sum(t @ jnp.ones((256,), t.dtype)) == 0
    return jax.lax.cond(ok, lambda: update(p, g, m, v), lambda: (p, m, v))


def materialised_cond(p, g, m, v):
    out = update(p, g, m, v)
    ok = zero_sum(*out)
    return jax.lax.cond(ok, lambda: out, lambda: (p, m, v))


VARIANTS = {
    f.__name__: f
    for f in (
        update,
        check_outputs,
        combined_outputs,
        where_outputs,
        per_leaf_cond,
        combined_cond,
        dot_cond,
        materialised_cond,
    )
}


def main():
    keys = [jax.random.key(i) for i in range(4)]
    p, g, m, v = (jax.random.normal(k, (N,)) for k in keys)
    v = jnp.abs(v)
    fns = {k: jax.jit(f, donate_argnums=(0, 2, 3)) for k, f in VARIANTS.items()}
    state = {k: (jnp.copy(p), jnp.copy(m), jnp.copy(v)) for k in fns}
    for k, f in fns.items():
        text = f.lower(p, g, m, v).compile().as_text()
        print(f"{k:18s} fusions {text.count(' fusion('):3d}  reductions {text.count('reduce('):2d}")

    def call(k):
        out = fns[k](state[k][0], g, state[k][1], state[k][2])
        out = out[0] if isinstance(out[0], tuple) else out
        state[k] = out
        jax.block_until_ready(out)

    for k in fns:
        call(k)
    times = {k: [] for k in fns}
    for _ in range(15):
        for k in fns:
            t = time.process_time()
            call(k)
            times[k].append(time.process_time() - t)
    base = np.median(times["update"])
    for k in fns:
        scratch = fns[k].lower(p, g, m, v).compile().memory_analysis().temp_size_in_bytes
        print(
            f"{k:18s} scratch {scratch / 2**20:5.1f} MB  CPU {np.median(times[k]) * 1e3:7.2f} ms  x{np.median(times[k]) / base:.2f} of the update"
        )


if __name__ == "__main__":
    main()
