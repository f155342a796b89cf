"""XOR: the problem a single-layer perceptron cannot solve, learned by a 2-4-1 sigmoid network.

Full-batch gradient descent on the four points with the textbook's squared error, every
derivative from fnnet's hand-written rules. Prints the loss as it falls and the final outputs.
Then the same with the noisy XOR data set (``fnnet.data.xor``) and minibatch Adam.

Run: ``python examples/xor.py``
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import fnnet
from fnnet import activations, losses, optimizers

X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = jnp.array([[0.0], [1.0], [1.0], [0.0]])


def truth_table(seed: int = 0, epochs: int = 3000, verbose: bool = True):
    """Full-batch gradient descent (batch = the whole set), learning rate 2."""
    net = fnnet.serial(fnnet.Dense(4, activations.sigmoid), fnnet.Dense(1, activations.sigmoid))
    params = net.init(jax.random.key(seed), 2)
    log = (
        (lambda line: print(line) if line.split("/")[0].endswith(("500", "000")) else None)
        if verbose
        else print
    )
    result = fnnet.fit(
        net.apply,
        params,
        losses.squared_error,
        optimizers.sgd(2.0),
        (X, Y),
        key=jax.random.key(seed),
        epochs=epochs,
        batch_size=4,
        verbose=verbose,
        log=log,
    )
    return net.apply(result.params, X), result


def noisy(seed: int = 0, epochs: int = 60, verbose: bool = True):
    """Two classes in the four XOR quadrants, minibatch Adam, softmax cross-entropy."""
    key = jax.random.key(seed)
    d = fnnet.data.xor(key, 800, noise=0.15)
    (train, test) = fnnet.data.train_test_split(
        jax.random.fold_in(key, 1), d.x, d.y, test_fraction=0.25
    )
    net = fnnet.serial(
        fnnet.Dense(16, activations.tanh), fnnet.Dense(16, activations.tanh), fnnet.Dense(2)
    )
    params = net.init(jax.random.fold_in(key, 2), 2)
    result = fnnet.fit(
        net.apply,
        params,
        losses.softmax_cross_entropy,
        optimizers.adam(1e-2),
        train,
        key=key,
        epochs=epochs,
        batch_size=32,
        validation=test,
        verbose=False,
    )
    if verbose:
        print(
            f"noisy XOR: test accuracy {result.history['val_accuracy'][-1]:.3f} after {epochs} epochs"
        )
    return result


def main() -> None:
    outputs, result = truth_table()
    print("\n x1 x2 | target | network")
    for (x1, x2), t, o in zip(X.tolist(), Y[:, 0].tolist(), outputs[:, 0].tolist()):
        print(f"  {x1:.0f}  {x2:.0f} |   {t:.0f}    | {o:.3f}")
    print(f"final loss {result.history['loss'][-1]:.5f}\n")
    noisy()


if __name__ == "__main__":
    main()
