"""Reading a sweep: the best configuration over seeds, a results table, a heatmap.

A sweep's members are configurations × seeds. A single member (``SweepResult.best``) answers
"which run was luckiest"; researchers sweep seeds to average them out. Here a configuration is
scored by a reduction of its seeds' metric (the mean by default, or the median, the worst
seed, ...), and its seeds' parameters and histories come with it, so the winner needs no
retraining. A configuration with a NaN score (a seed that diverged, under the mean) ranks last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from fnnet._checks import check_bool, check_callable
from fnnet._types import Params
from fnnet.sweep._run import SweepResult

_DEFAULT_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy")


class Configuration(NamedTuple):
    """One configuration of a sweep and its seeds.

    ``index`` indexes the result's configuration axes (every axis but ``"seed"``); ``value``
    is ``reduce`` of ``values``, the metric of each seed. ``params`` (``None`` when the sweep
    ran with ``keep_params=False``) and every array of ``history`` lead with the seed axis:
    ``jax.tree_util.tree_map(lambda a: a[s], configuration.params)`` is seed ``s``'s model, and
    ``params`` as a whole is an ensemble for :func:`fnnet.sweep.predict_ensemble`.
    """

    index: tuple[int, ...]
    hparams: dict[str, float]
    metric: str
    value: float
    values: np.ndarray
    params: Params | None
    history: dict[str, np.ndarray]


class Table(NamedTuple):
    """Configuration → mean and standard deviation over seeds of each metric, one row each.

    ``hparams[name]``, ``mean[metric]`` and ``std[metric]`` are 1-d arrays with one entry per
    configuration (in the order of the rows); ``std`` is the population standard deviation
    over the ``seeds`` seeds (``numpy.std``, 0 for one seed). ``str(table)`` prints it aligned,
    ``mean ± std`` per cell.
    """

    hparams: dict[str, np.ndarray]
    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    seeds: int

    def __str__(self) -> str:
        header = [*self.hparams, *self.mean]
        rows = [
            [f"{v[i]:.4g}" for v in self.hparams.values()]
            + [f"{self.mean[m][i]:.4f} ± {self.std[m][i]:.4f}" for m in self.mean]
            for i in range(len(next(iter(self.mean.values()))))
        ]
        widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
        lines = [
            "  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True))
            for row in [header, *rows]
        ]
        return "\n".join(lines)


def _check_result(result: Any) -> SweepResult:
    if not isinstance(result, SweepResult):
        raise TypeError(
            f"`result` must be the SweepResult of fnnet.sweep.run; got {type(result).__name__}."
        )
    if not result.axes or result.axes[-1] != "seed":
        raise ValueError(f"`result` must end with the seed axis; got axes {result.axes}.")
    return result


def _per_member(result: SweepResult) -> list[str]:
    """The 0-d per-member metrics (one value per member), sorted."""
    shape = tuple(len(result.coords[a]) for a in result.axes)
    return sorted(
        k
        for k, v in result.metrics.items()
        if np.shape(v) == shape and np.issubdtype(np.asarray(v).dtype, np.number)
    )


def _check_metric(result: SweepResult, metric: str | None) -> str:
    names = _per_member(result)
    if metric is None:
        metric = "val_loss" if "val_loss" in names else "loss"
    if metric not in names:
        raise ValueError(
            f"`metric` must name a per-member metric of `result`; got {metric!r}, "
            f"available: {names}."
        )
    return metric


def _reduced(result: SweepResult, metric: str, reduce: Callable) -> np.ndarray:
    values = np.asarray(result.metrics[metric], np.float64)
    reduced = np.asarray(reduce(values, axis=-1), np.float64)
    if reduced.shape != values.shape[:-1]:
        raise ValueError(
            f"`reduce` must reduce the seed axis, reduce(values, axis=-1) with values of shape "
            f"{values.shape}; got shape {reduced.shape}."
        )
    return reduced


def best_configuration(
    result: SweepResult,
    metric: str | None = None,
    *,
    maximize: bool = False,
    reduce: Callable[..., Any] = np.mean,
) -> Configuration:
    """The configuration whose seeds score best on ``metric``, reduced over the seed axis.

    Args:
        result: a ``SweepResult`` (``fnnet.sweep.run`` or ``ensemble``).
        metric: a per-member metric (``"val_accuracy"``, ...); default ``"val_loss"`` when the
            sweep had validation data, else ``"loss"``.
        maximize: the highest score wins (accuracies) instead of the lowest (losses).
        reduce: ``reduce(values, axis=-1)`` over the seeds, e.g. ``np.mean`` (default),
            ``np.median``, ``np.min`` (the worst seed's accuracy). A NaN score ranks last.

    Returns:
        A ``Configuration`` with its seeds' metric values, parameters and histories.

    Example:
        >>> import jax, numpy as np
        >>> from fnnet import sweep
        >>> def member(hp, key):  # a stand-in for a training run: noise around (lr - 0.3)²
        ...     loss = (hp["lr"] - 0.3) ** 2 + 0.01 * jax.random.normal(key, ())
        ...     return {"loss": loss}, {"w": hp["lr"]}
        >>> result = sweep.run(member, sweep.grid(lr=[0.1, 0.3, 1.0]), jax.random.key(0), seeds=4)
        >>> choice = sweep.best_configuration(result, "loss")
        >>> choice.hparams, choice.values.shape, choice.params["w"].shape
        ({'lr': 0.30000001192092896}, (4,), (4,))
    """
    result = _check_result(result)
    metric = _check_metric(result, metric)
    maximize = check_bool("maximize", maximize)
    check_callable("reduce", reduce, example="np.mean")
    scores = _reduced(result, metric, reduce)
    ranked = np.where(np.isnan(scores), -np.inf if maximize else np.inf, scores)
    flat = int(np.argmax(ranked) if maximize else np.argmin(ranked))
    index = tuple(int(i) for i in np.unravel_index(flat, scores.shape))
    pick = lambda a: np.asarray(a)[index]  # noqa: E731
    history = result.metrics.get("history", {})
    return Configuration(
        index,
        {k: v[index][0].item() for k, v in result.hparams.items()},
        metric,
        float(scores[index]),
        np.asarray(result.metrics[metric])[index],
        None if result.params is None else jax.tree_util.tree_map(pick, result.params),
        jax.tree_util.tree_map(pick, history) if isinstance(history, dict) else {},
    )


def table(
    result: SweepResult,
    metrics: tuple[str, ...] | list[str] | None = None,
    *,
    sort_by: str | None = None,
    maximize: bool = False,
) -> Table:
    """Each configuration's mean ± standard deviation over seeds of each metric.

    Args:
        result: a ``SweepResult``.
        metrics: per-member metrics to report; default those of ``loss``, ``accuracy``,
            ``val_loss``, ``val_accuracy`` the sweep has (else every per-member metric).
        sort_by: order the rows by this metric's mean, best first (``maximize`` for
            accuracies; NaN last); default the configurations' order in the sweep.

    Returns:
        The rows, a NamedTuple ``(hparams, mean, std, seeds)``: ``hparams[name]``,
        ``mean[metric]`` and ``std[metric]`` are 1-d arrays with one entry per configuration
        (population standard deviation over the ``seeds`` seeds, 0 for one seed);
        ``print(table)`` shows them aligned, ``mean ± std`` per cell.

    Example:
        >>> import jax
        >>> from fnnet import sweep
        >>> member = lambda hp, key: ({"loss": hp["lr"] + jax.random.uniform(key, ())}, ())
        >>> result = sweep.run(member, sweep.grid(lr=[1.0, 2.0]), jax.random.key(0), seeds=3)
        >>> rows = sweep.table(result)
        >>> rows.hparams["lr"].tolist(), rows.mean["loss"].shape, rows.seeds
        ([1.0, 2.0], (2,), 3)
    """
    result = _check_result(result)
    available = _per_member(result)
    if metrics is None:
        metrics = [m for m in _DEFAULT_COLUMNS if m in available] or available
    elif isinstance(metrics, str) or not all(isinstance(m, str) for m in metrics):
        raise TypeError(f"`metrics` must be a list of metric names; got {metrics!r}.")
    for m in metrics:
        _check_metric(result, m)
    check_bool("maximize", maximize)
    values = {m: np.asarray(result.metrics[m], np.float64) for m in metrics}
    mean = {m: v.mean(axis=-1).reshape(-1) for m, v in values.items()}
    std = {m: v.std(axis=-1).reshape(-1) for m, v in values.items()}
    hparams = {k: v[..., 0].reshape(-1) for k, v in result.hparams.items()}
    if sort_by is not None:
        _check_metric(result, sort_by)
        key = np.asarray(result.metrics[sort_by], np.float64).mean(axis=-1).reshape(-1)
        key = np.where(np.isnan(key), np.inf, -key if maximize else key)
        order = np.argsort(key, kind="stable")
        hparams, mean, std = ({k: v[order] for k, v in d.items()} for d in (hparams, mean, std))
    return Table(hparams, mean, std, len(result.coords["seed"]))


def heatmap(
    result: SweepResult,
    metric: str | None = None,
    *,
    x: str | None = None,
    y: str | None = None,
    fixed: dict[str, Any] | None = None,
    reduce: Callable[..., Any] = np.mean,
    maximize: bool = False,
    ax: Any = None,
) -> Any:
    """Draw ``reduce`` over seeds of ``metric`` across two swept axes, best cell outlined.

    Needs matplotlib (imported only here: ``pip install matplotlib``).

    Args:
        result: a ``SweepResult`` of a grid with at least two axes besides ``"seed"``.
        metric: as in :func:`best_configuration`.
        x: the grid axis along the columns; default the last axis.
        y: the grid axis along the rows; default the one before it.
        fixed: ``{axis: value}`` picking one value of every other grid axis.
        reduce: the reduction over seeds (``np.mean`` by default); each cell shows it and,
            below, the standard deviation over seeds.
        maximize: outline the highest cell instead of the lowest.
        ax: a matplotlib ``Axes`` to draw on; default a new figure's.

    Returns:
        The matplotlib ``Axes`` (``ax.figure.savefig(...)`` writes it).
    """
    try:
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError as err:
        raise ImportError(
            "fnnet.sweep.heatmap needs matplotlib, which fnnet does not install: "
            "pip install matplotlib"
        ) from err
    result = _check_result(result)
    metric = _check_metric(result, metric)
    check_callable("reduce", reduce, example="np.mean")
    check_bool("maximize", maximize)
    grid_axes = list(result.axes[:-1])
    if len(grid_axes) < 2:
        raise ValueError(
            f"`result` must have two swept axes besides the seeds for a heatmap; got axes "
            f"{result.axes}."
        )
    x = grid_axes[-1] if x is None else x
    y = grid_axes[-2] if y is None else y
    for name, axis in (("x", x), ("y", y)):
        if axis not in grid_axes:
            raise ValueError(f"`{name}` must be one of the swept axes {grid_axes}; got {axis!r}.")
    if x == y:
        raise ValueError(f"`x` and `y` must be two different axes; got {x!r} for both.")
    fixed = dict(fixed or {})
    others = [a for a in grid_axes if a not in (x, y)]
    if sorted(fixed) != sorted(others):
        raise ValueError(
            f"`fixed` must give one value for each other swept axis {others}; got {sorted(fixed)}."
        )
    values = np.asarray(result.metrics[metric], np.float64)
    take = []
    for axis in grid_axes:
        if axis in fixed:
            coords = np.asarray(result.coords[axis])
            hits = np.flatnonzero(np.isclose(coords, fixed[axis]))
            if hits.size == 0:
                raise ValueError(
                    f"`fixed[{axis!r}]` must be one of {coords.tolist()}; got {fixed[axis]!r}."
                )
            take.append(int(hits[0]))
        else:
            take.append(slice(None))
    values = values[tuple(take)]
    cells = np.asarray(reduce(values, axis=-1), np.float64)
    spread = values.std(axis=-1)
    ranked = np.where(np.isnan(cells), -np.inf if maximize else np.inf, cells)
    # ties go to the first in the sweep's axis order, as in best_configuration
    best = np.unravel_index(int(np.argmax(ranked) if maximize else np.argmin(ranked)), cells.shape)
    if grid_axes.index(y) > grid_axes.index(x):  # rows: y, columns: x
        cells, spread, best = cells.T, spread.T, best[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * cells.shape[1] + 2.5, 0.7 * cells.shape[0] + 2))
    image = ax.imshow(cells, cmap="viridis", aspect="auto")
    middle = np.nanmean(cells) if np.isfinite(cells).any() else 0.0
    for (r, c), v in np.ndenumerate(cells):
        ax.text(
            c,
            r,
            f"{v:.3g}\n±{spread[r, c]:.2g}",
            ha="center",
            va="center",
            fontsize=8,
            color="black" if v >= middle else "white",
        )
    r, c = best
    ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xticks(range(cells.shape[1]), [f"{v:g}" for v in np.asarray(result.coords[x])])
    ax.set_yticks(range(cells.shape[0]), [f"{v:g}" for v in np.asarray(result.coords[y])])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    seeds = len(result.coords["seed"])
    title = f"{metric}, {getattr(reduce, '__name__', 'reduced')} over {seeds} seed(s)"
    if fixed:
        title += " (" + ", ".join(f"{k}={v:g}" for k, v in fixed.items()) + ")"
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax)
    return ax
