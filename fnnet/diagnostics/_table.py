"""``format_table``: one step's ``Diagnostics`` as a printable table (host side)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fnnet import networks
from fnnet.diagnostics._diagnose import (
    Diagnostics,
    check_activations,
    mlp_activations,
)
from fnnet.diagnostics._regimes import name_of


def _fraction(v: float) -> str:
    return "–" if math.isnan(v) else f"{100.0 * v:.1f}%"


def _number(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.3e}"


def format_table(diagnostics: Diagnostics, activations: Any = None) -> str:
    """A printable table of one step's :class:`Diagnostics`, one row per layer (host side).

    Columns: layer (1 = first), activation name (when ``activations`` is given: the ``MLP``,
    the tuple passed to :func:`diagnose` as its network or its ``activations``), ``‖δ‖``,
    ``‖∂W‖``, ``‖∂b‖``, dead and saturated fractions and the median over the batch of the
    per-example gradient norm (``–`` where not applicable). A line per recurrent layer follows
    with the first and last entries of its ``through_time``. Not jittable: it reads the arrays
    with numpy.
    """
    if not isinstance(diagnostics, Diagnostics):
        raise TypeError(
            f"`diagnostics` must be a Diagnostics from diagnose(); got {type(diagnostics).__name__}."
        )
    if np.ndim(diagnostics.loss) != 0:
        raise ValueError(
            f"`diagnostics` must be one step's, with a scalar loss; got a loss of shape "
            f"{np.shape(diagnostics.loss)} (index a stacked history first, e.g. with "
            f"jax.tree_util.tree_map(lambda v: v[-1], history))."
        )
    delta, grad_w, grad_b, dead, saturated, per_example = (
        np.asarray(v) for v in diagnostics.layers
    )
    num_layers = delta.shape[0]
    if activations is None:
        names = [""] * num_layers
    elif isinstance(activations, networks.Network):
        names = [name_of(f) for f in mlp_activations(activations)]
    else:
        checked = check_activations(activations, "activations", allow_none=True)
        names = ["–" if f is None else name_of(f) for f in checked]
    if len(names) != num_layers:
        raise ValueError(
            f"`activations` has {len(names)} layers but `diagnostics` has {num_layers}."
        )
    total = np.asarray(diagnostics.per_example_grad_norm)
    header = f"loss {float(diagnostics.loss):.6g}"
    if not np.all(np.isnan(total)):
        header += f"   per-example ‖∇ℓ_i‖: median {np.median(total):.3e}, max {np.max(total):.3e}"
    lines = [
        header,
        f"{'layer':>5}  {'activation':<10}  {'‖δ‖':>9}  {'‖∂W‖':>9}  {'‖∂b‖':>9}  {'dead':>6}  "
        f"{'saturated':>9}  {'‖∇ℓ_i‖ median':>13}",
    ]
    for l in range(num_layers):
        lines.append(
            f"{l + 1:>5}  {names[l]:<10}  {_number(delta[l]):>9}  "
            f"{_number(grad_w[l]):>9}  {_number(grad_b[l]):>9}  "
            f"{_fraction(dead[l]):>6}  {_fraction(saturated[l]):>9}  "
            f"{_number(np.median(per_example[l])):>13}"
        )
    for l, norms in enumerate(diagnostics.through_time):
        if norms is not None:
            norms = np.asarray(norms)
            lines.append(
                f"layer {l + 1} through time ({norms.shape[0]} steps): batch-mean ‖δh_t‖ "
                f"{_number(norms[0])} first, {_number(norms[-1])} last"
            )
    return "\n".join(lines)
