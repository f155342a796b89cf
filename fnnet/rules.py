"""Hand-written backward rules, and the switch that turns them off.

Every derivative fnnet computes by hand is a ``jax.custom_vjp`` written as four adjacent pieces:
the primal, ``_<f>_fwd`` (the primal output plus the residuals the backward pass reads),
``_<f>_bwd`` (one cotangent per primal argument), and ``<f>.defvjp(...)``. The decorator
:func:`hand_rule` goes on top of ``@jax.custom_vjp``; it adds two things:

* **The autodiff switch.** ``custom_vjp`` blocks forward mode (``jax.jvp``, ``jax.jacfwd``,
  ``jax.hessian``). Inside ``with fnnet.autodiff():``, or in a function wrapped by
  :func:`with_autodiff`, every fnnet rule calls its plain forward body instead, and JAX
  differentiates that body itself, in any mode and to any order. The numbers are the same
  (the tests prove it); only who derives them changes.
* **The registry.** Every hand rule is recorded in :func:`all_rules`, so the gradient checker
  can prove that each one is verified.

The switch is read when a function is *traced*. ``jax.jit`` caches traced functions, so a
jitted function traced outside the context keeps the hand rules when later called inside it.
Wrap the function before jitting, ``jax.jit(fnnet.with_autodiff(loss))``, to get a separate
compiled version.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from fnnet._checks import check_bool, check_callable

_state = threading.local()
_RULES: dict[str, Callable[..., Any]] = {}


def _autodiff_enabled() -> bool:
    """Whether fnnet's rules currently defer to plain autodiff of their forward bodies."""
    return getattr(_state, "autodiff", False)


@contextlib.contextmanager
def autodiff(enabled: bool = True) -> Iterator[None]:
    """Context in which fnnet's hand-written rules are replaced by JAX autodiff.

    Args:
        enabled: ``True`` (default) to use autodiff of the reference forwards, ``False`` to
            force the hand-written rules (e.g. inside an outer ``autodiff()`` block).

    The switch reaches fnnet's rules and any rule decorated with :func:`hand_rule`, not a plain
    ``jax.custom_vjp`` written elsewhere: that one still blocks forward mode, and JAX's
    "can't apply forward-mode autodiff" raised inside the block gets a pointer to
    ``fnnet.rules.hand_rule`` added.

    Example:
        >>> import jax, jax.numpy as jnp, fnnet
        >>> with fnnet.autodiff():
        ...     h = jax.hessian(lambda z: fnnet.activations.sigmoid(z).sum())(jnp.zeros(2))
        >>> h.shape
        (2, 2)
    """
    check_bool("enabled", enabled)
    previous = _autodiff_enabled()
    _state.autodiff = enabled
    try:
        yield
    except TypeError as error:
        message = str(error)
        explained = _HINT_START in message or _PLAIN_HINT_START in message
        if not enabled or _FORWARD_MODE not in message or explained:
            raise
        raise TypeError(f"{message}\n{_PLAIN_HINT}") from error
    finally:
        _state.autodiff = previous


def with_autodiff(fun: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``fun`` traced with fnnet's rules switched to plain autodiff (per call).

    ``jax.hessian(fnnet.with_autodiff(loss))(params)`` works where ``jax.hessian(loss)`` would
    fail with "can't apply forward-mode autodiff (jvp) to a custom_vjp function" (unless
    ``loss`` calls a plain ``jax.custom_vjp`` of its own: decorate that with :func:`hand_rule`).
    """
    check_callable("fun", fun)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        with autodiff(True):
            return fun(*args, **kwargs)

    return wrapped


_FORWARD_MODE = "can't apply forward-mode autodiff"
_HINT_START = "fnnet's rules are first-order"
_HINT = (
    _HINT_START + " (reverse mode), and `{name}` is one. For jax.jvp, "
    "jax.jacfwd or jax.hessian, trace the function inside `with fnnet.autodiff():` or wrap it, "
    "`jax.hessian(fnnet.with_autodiff(f))`: JAX then differentiates the same forward code."
)


_PLAIN_HINT_START = "A plain jax.custom_vjp blocks forward mode even under fnnet.autodiff()"
_PLAIN_HINT = (
    _PLAIN_HINT_START + ": the switch reaches fnnet's rules and the rules decorated with "
    "@fnnet.rules.hand_rule, not one written elsewhere (your own activation, say). Decorate it "
    "with @fnnet.rules.hand_rule (above @jax.custom_vjp) so that the switch reaches it too, or "
    "write it with jax.custom_jvp."
)


def hand_rule(rule: Any) -> Callable[..., Any]:
    """Mark a ``jax.custom_vjp`` function as one of fnnet's hand-written rules.

    The returned function calls ``rule`` normally, and ``rule``'s plain forward body (so that
    JAX derives the gradient) when :func:`autodiff` is on. It keeps ``rule.defvjp``, so the
    usual layout ``f.defvjp(_f_fwd, _f_bwd)`` follows the definition, and exposes

    * ``.custom_vjp``: the ``jax.custom_vjp`` object itself;
    * ``.forward``: the undecorated forward body, differentiated by JAX under the switch.

    Forward mode (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) of a hand rule outside
    :func:`autodiff` raises JAX's ``TypeError`` with a pointer to ``fnnet.autodiff()`` added.
    """
    forward = getattr(rule, "fun", None)
    if forward is None or not hasattr(rule, "defvjp"):
        raise TypeError(f"`rule` must be a jax.custom_vjp function; got {rule!r}.")

    @functools.wraps(forward)
    def dispatch(*args, **kwargs):
        if _autodiff_enabled():
            return forward(*args, **kwargs)
        try:
            return rule(*args, **kwargs)
        except TypeError as error:
            message = str(error)
            if _FORWARD_MODE not in message or _HINT_START in message:  # not ours, or explained
                raise
            raise TypeError(f"{message}\n{_HINT.format(name=name)}") from error

    wrapper: Any = dispatch  # a function with three attributes of its own
    wrapper.custom_vjp = rule
    wrapper.forward = forward
    wrapper.defvjp = rule.defvjp
    name = _public_name(forward)
    previous = _RULES.get(name)
    if previous is not None and previous.forward.__module__ != forward.__module__:
        raise ValueError(
            f"two hand rules share the public name {name}: one in {previous.forward.__module__},"
            f" one in {forward.__module__}. Rename one of them."
        )
    _RULES[name] = dispatch
    return dispatch


def _public_name(fn: Callable[..., Any]) -> str:
    """``fn``'s name on its public path: private module components dropped, so the sigmoid
    defined in ``fnnet/activations/_elementwise.py`` is ``fnnet.activations.sigmoid``."""
    public = [p for p in fn.__module__.split(".") if not p.startswith("_") or p.startswith("__")]
    return ".".join([*public, fn.__qualname__])


def all_rules() -> dict[str, Callable[..., Any]]:
    """Every hand rule defined so far, by qualified name (``fnnet.activations.sigmoid``, ...)."""
    return dict(_RULES)


__all__ = ["all_rules", "autodiff", "hand_rule", "with_autodiff"]
