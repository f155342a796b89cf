"""Write a new activation with a hand-written backward rule, and verify it with fnnet.gradcheck.

The activation is *squareplus* with a learnable sharpness ``b > 0`` (a smooth ReLU)::

    a = (z + √(z² + b)) / 2
    ∂a/∂z = (1 + z/√(z² + b)) / 2 = a / √(z² + b)      ∂a/∂b = 1 / (4 √(z² + b))

First the correct rule is checked three ways (its VJP against ``jax.vjp`` of an independent
reference, and both against finite differences), to second order and through fnnet's autodiff
switch; then a rule whose ``b`` cotangent is off by a factor 2 is caught, and the report names
the leaf ``b``. Run it with ``python examples/custom_rule.py``.
"""

import jax
import jax.numpy as jnp

from fnnet import gradcheck
from fnnet.rules import hand_rule


# squareplus :: (z, b) -> a
@hand_rule
@jax.custom_vjp
def squareplus(z, b):
    """Squareplus ``a = (z + √(z² + b)) / 2``; ``b`` is a learnable scalar."""
    return 0.5 * (z + jnp.sqrt(z * z + b))


# _squareplus_fwd :: (z, b) -> (a, (a, root))
def _squareplus_fwd(z, b):
    a = squareplus(z, b)  # call the primal: the rule then also holds at second order
    return a, (a, 2.0 * a - z)  # √(z² + b) = 2a − z


# _squareplus_bwd :: ((a, root), CT a) -> (CT z, CT b)
def _squareplus_bwd(res, da):
    a, root = res
    dz = da * a / root  # ∂a/∂z = a / √(z² + b)
    db = jnp.sum(da / (4.0 * root))  # ∂a/∂b = 1 / (4√(z² + b)), summed: b is a scalar
    return dz, db


squareplus.defvjp(_squareplus_fwd, _squareplus_bwd)


@jax.custom_vjp
def squareplus_wrong_b(z, b):
    """The same forward with a deliberately wrong ``b`` cotangent (missing the ½)."""
    return 0.5 * (z + jnp.sqrt(z * z + b))


def _squareplus_wrong_b_fwd(z, b):
    a = squareplus_wrong_b(z, b)
    return a, (a, 2.0 * a - z)


def _squareplus_wrong_b_bwd(res, da):
    a, root = res
    return da * a / root, jnp.sum(da / (2.0 * root))  # wrong: 2 where the rule has 4


squareplus_wrong_b.defvjp(_squareplus_wrong_b_fwd, _squareplus_wrong_b_bwd)


def reference(z, b):
    """The same function written independently: JAX differentiates it."""
    return (z + jnp.hypot(z, jnp.sqrt(b))) / 2.0


def sampler(key, dtype, dims):
    """``(z, b)``: a ``(batch, features)`` input with sizes from ``dims`` and ``b`` in (0.5, 1.5)."""
    z, noise = gradcheck.normals(key, dtype, (dims[0], dims[1]), ())
    return 2.0 * z, 1.0 + 0.5 * jnp.tanh(noise)


def main() -> None:
    key = jax.random.key(0)
    good = gradcheck.check_rule(
        squareplus,
        reference,
        sampler,
        key=key,
        dtype=jnp.float64,
        points=4,
        order=2,
        forward_mode=True,
    )
    print(good, end="\n\n")
    good.raise_if_failed()

    bad = gradcheck.check_rule(squareplus_wrong_b, reference, sampler, key=key, points=4)
    print(bad.table(failures_only=True))
    wrong_leaves = sorted({r.leaf for r in bad.failures})
    print(f"\nwrong leaves: {wrong_leaves}")
    if wrong_leaves != ["b"]:
        raise SystemExit(f"expected the report to blame `b` only; got {wrong_leaves}")


if __name__ == "__main__":
    main()
