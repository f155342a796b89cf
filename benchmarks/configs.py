"""The benchmark configurations: network sizes, activations, batch sizes, and their FLOP counts.

Every configuration is trained with softmax cross-entropy on random float32 inputs and integer
labels, one step being forward + backward + Adam on one minibatch.
"""

from __future__ import annotations

from typing import NamedTuple


class Config(NamedTuple):
    name: str
    sizes: tuple[int, ...]  # (fan_in of layer 1, hidden..., classes)
    activation: str  # hidden activation: "sigmoid" or "relu"; the output layer is linear (logits)
    batch: int
    scan_steps: int  # steps per compiled `lax.scan` call (full run)
    quick_scan_steps: int  # the same for --quick

    @property
    def layers(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of every dense layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def num_params(self) -> int:
        return sum(i * o + o for i, o in self.layers)

    @property
    def step_flops(self) -> float:
        """GEMM FLOPs of one train step, ``6·B·Σ fan_in·fan_out``.

        2·B·fan_in·fan_out each for the forward product, the weight gradient and the input
        gradient. (The first layer's input gradient is not needed, so this slightly overstates
        the work and makes the "fraction of the GEMM limit" conservative-high; elementwise work,
        the loss and the optimizer are not counted.)
        """
        return 6.0 * self.batch * sum(i * o for i, o in self.layers)

    def describe(self) -> str:
        return f"{'-'.join(map(str, self.sizes))} {self.activation}, batch {self.batch}"


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config("tiny", (2, 2, 2), "sigmoid", 1, scan_steps=4000, quick_scan_steps=1000),
        Config("small", (64, 128, 128, 10), "relu", 128, scan_steps=200, quick_scan_steps=50),
        Config("medium", (784, 512, 512, 10), "relu", 128, scan_steps=25, quick_scan_steps=10),
        Config("wide", (784, 2048, 2048, 10), "relu", 256, scan_steps=5, quick_scan_steps=2),
    )
}
