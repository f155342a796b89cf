"""fnnet.from_torch: PyTorch state dicts (as NumPy arrays) to fnnet params.

Always against a NumPy transcription of PyTorch's own formulas, written with PyTorch's weight
layout (``x @ weight.T``, channels-first convolution, the gate equations of ``nn.RNN``,
``nn.LSTM``, ``nn.GRU``), and, where PyTorch is installed, against PyTorch itself.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import from_torch, layers, recurrent
from fnnet.gradcheck import assert_close

B, T, F, H = 3, 5, 2, 4
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CELLS = {"rnn": recurrent.Elman, "lstm": recurrent.LSTM, "gru": recurrent.GRU}
CONVERT = {"rnn": from_torch.rnn, "lstm": from_torch.lstm, "gru": from_torch.gru}


def _normal(rng, *shape):
    return rng.normal(size=shape) * 0.5


def _recurrent_state(kind, rng, *, bidirectional, prefix=""):
    """A random ``nn.RNN``/``LSTM``/``GRU`` state dict in PyTorch's layout."""
    g = GATES[kind]
    state = {}
    for suffix in ("", "_reverse") if bidirectional else ("",):
        state[f"{prefix}weight_ih_l0{suffix}"] = _normal(rng, g * H, F)
        state[f"{prefix}weight_hh_l0{suffix}"] = _normal(rng, g * H, H)
        state[f"{prefix}bias_ih_l0{suffix}"] = _normal(rng, g * H)
        state[f"{prefix}bias_hh_l0{suffix}"] = _normal(rng, g * H)
    return state


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _torch_cell(kind, state, suffix, x_t, h, c):
    """One step of PyTorch's documented equations, its weight layout (``W x`` as ``x Wᵀ``)."""
    w_ih, w_hh = state[f"weight_ih_l0{suffix}"], state[f"weight_hh_l0{suffix}"]
    gi = x_t @ w_ih.T + state[f"bias_ih_l0{suffix}"]
    gh = h @ w_hh.T + state[f"bias_hh_l0{suffix}"]
    if kind == "rnn":
        return np.tanh(gi + gh), c
    if kind == "gru":
        r = _sigmoid(gi[:, :H] + gh[:, :H])
        z = _sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        return (1 - z) * n + z * h, c
    a = gi + gh
    i, f, g, o = (
        _sigmoid(a[:, :H]),
        _sigmoid(a[:, H : 2 * H]),
        np.tanh(a[:, 2 * H : 3 * H]),
        _sigmoid(a[:, 3 * H :]),
    )
    c = f * c + i * g
    return o * np.tanh(c), c


def _torch_recurrent(kind, state, x, *, bidirectional):
    """``output, h_n`` (``(h_n, c_n)`` for the LSTM) of PyTorch's module, batch first, h0 = 0."""
    outputs, finals = [], []
    for suffix in ("", "_reverse") if bidirectional else ("",):
        h = c = np.zeros((x.shape[0], H))
        steps = range(x.shape[1])[::-1] if suffix else range(x.shape[1])
        out = np.zeros((x.shape[0], x.shape[1], H))
        for t in steps:
            h, c = _torch_cell(kind, state, suffix, x[:, t], h, c)
            out[:, t] = h
        outputs.append(out)
        finals.append((h, c))
    h_n = np.stack([f[0] for f in finals])
    c_n = np.stack([f[1] for f in finals])
    return np.concatenate(outputs, axis=-1), ((h_n, c_n) if kind == "lstm" else h_n)


def _fnnet_recurrent(kind, params, x, *, bidirectional):
    layer = CELLS[kind](H, dtype=jnp.float64)
    layer = recurrent.Bidirectional(layer) if bidirectional else layer
    return layer.run(params, jnp.asarray(x))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["one-way", "bidirectional"])
@pytest.mark.parametrize("kind", sorted(GATES))
def test_recurrent_converters_match_a_numpy_transcription(kind, bidirectional, x64):
    rng = np.random.default_rng(len(kind) + bidirectional)
    state = _recurrent_state(kind, rng, bidirectional=bidirectional, prefix="rnn.")
    x = _normal(rng, B, T, F)
    params = CONVERT[kind](state, prefix="rnn.")
    assert (type(params) is tuple) == bidirectional  # (forward, backward) for Bidirectional
    got = _fnnet_recurrent(kind, params, x, bidirectional=bidirectional)
    plain = {k.removeprefix("rnn."): v for k, v in state.items()}
    want = _torch_recurrent(kind, plain, x, bidirectional=bidirectional)
    assert_close(got, want)  # outputs, and h_n ((h_n, c_n)) in PyTorch's own layout


def _torch_conv1d(weight, bias, x, stride, padding):
    """``nn.Conv1d`` forward on channels-first ``x (batch, in, length)``, by loops."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    k = weight.shape[-1]
    out = (x.shape[-1] - k) // stride + 1
    y = np.empty((x.shape[0], weight.shape[0], out))
    for t in range(out):
        window = x[:, :, t * stride : t * stride + k]  # (batch, in, k)
        y[:, :, t] = np.einsum("bik,oik->bo", window, weight) + bias
    return y


def test_conv_then_flatten_then_linear_matches_a_channels_first_numpy_network(x64):
    """A PyTorch ``Conv1d → ReLU → Flatten → Linear`` (channels-first flatten) and the fnnet
    ``serial(Conv, Flatten, Dense)`` with converted params give the same logits."""
    rng = np.random.default_rng(0)
    conv_w, conv_b = _normal(rng, 5, 2, 3), _normal(rng, 5)  # Conv1d(2, 5, 3, stride=2, padding=1)
    x = _normal(rng, B, 2, 9)  # channels-first, length 9 -> 5 positions
    features = _torch_conv1d(conv_w, conv_b, x, 2, 1)  # (B, 5, 5)
    fc_w, fc_b = _normal(rng, 4, 25), _normal(rng, 4)
    want = np.maximum(features, 0).reshape(B, -1) @ fc_w.T + fc_b  # PyTorch flattens (C, L)

    state = {"0.weight": conv_w, "0.bias": conv_b, "3.weight": fc_w, "3.bias": fc_b}
    net = layers.serial(
        layers.Conv(5, 3, strides=2, padding=1, activation=jax.nn.relu, dtype=jnp.float64),
        layers.Flatten(),
        layers.Dense(4, dtype=jnp.float64),
    )
    params = (
        from_torch.conv(state, prefix="0."),
        (),
        from_torch.linear(state, prefix="3.", flattened=(5, 5)),
    )
    assert_close(net.apply(params, jnp.moveaxis(jnp.asarray(x), 1, -1)), want)
    plain = from_torch.linear(state, prefix="3.")  # without flattened=: the columns differ
    assert not np.allclose(plain.w, params[2].w)


def test_linear_without_bias_and_dtype():
    state = {"weight": np.arange(6.0).reshape(2, 3)}  # nn.Linear(3, 2, bias=False)
    params = from_torch.linear(state, dtype=jnp.float32)
    assert params.w.dtype == params.b.dtype == jnp.float32
    assert_close(params.w, np.arange(6.0, dtype=np.float32).reshape(2, 3).T)
    assert_close(params.b, np.zeros(2, np.float32))


def test_bad_state_dicts_are_named():
    with pytest.raises(
        KeyError, match=r"no 'fc\.weight' \(prefix 'fc\.'\); its keys: \['weight'\]"
    ):
        from_torch.linear({"weight": np.ones((2, 3))}, prefix="fc.")
    with pytest.raises(TypeError, match="`state_dict` must be a mapping"):
        from_torch.linear([np.ones((2, 3))])
    with pytest.raises(
        ValueError, match=r"`state_dict\['weight'\]` must be a floating array of rank 2"
    ):
        from_torch.linear({"weight": np.ones((2, 3, 1))})
    with pytest.raises(ValueError, match=r"`state_dict\['bias'\]` must have shape \(2,\)"):
        from_torch.linear({"weight": np.ones((2, 3)), "bias": np.ones(3)})
    with pytest.raises(ValueError, match=r"`flattened` must be the \(channels, \*spatial\) shape"):
        from_torch.linear({"weight": np.ones((2, 6))}, flattened=(4, 2))
    with pytest.raises(ValueError, match="rank 3 or 4 or 5"):
        from_torch.conv({"weight": np.ones((2, 3))})
    gru = _recurrent_state("gru", np.random.default_rng(0), bidirectional=False)
    with pytest.raises(ValueError, match=r"weight_ih \(4·H, F\) and weight_hh \(4·H, H\)"):
        from_torch.lstm(gru)  # a GRU's weights given as an LSTM's
    with pytest.raises(KeyError, match="weight_ih_l1"):
        from_torch.gru(gru, layer=1)
    with pytest.raises(ValueError, match="proj_size"):
        from_torch.lstm({**_recurrent_state("lstm", np.random.default_rng(0), bidirectional=False),
                         "weight_hr_l0": np.ones((2, H))})  # fmt: skip


# --- against PyTorch itself ----------------------------------------------------------------------


def _numpy_state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("bidirectional", [False, True], ids=["one-way", "bidirectional"])
@pytest.mark.parametrize("kind", sorted(GATES))
def test_recurrent_converters_match_pytorch(kind, bidirectional, x64):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    make = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    module = make(F, H, batch_first=True, bidirectional=bidirectional).double()
    x = np.random.default_rng(1).normal(size=(B, T, F))
    with torch.no_grad():
        output, final = module(torch.tensor(x))
    final = tuple(f.numpy() for f in final) if kind == "lstm" else final.numpy()
    got = _fnnet_recurrent(
        kind, CONVERT[kind](_numpy_state(module)), x, bidirectional=bidirectional
    )
    assert_close(got, (output.numpy(), final))  # h_n as PyTorch returns it, no reshaping


@pytest.mark.parametrize("dims", [1, 2])
def test_conv_and_linear_converters_match_pytorch(dims, x64):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    conv_type = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d}[dims]
    spatial = (9,) * dims
    model = torch.nn.Sequential(
        conv_type(2, 5, 3, stride=2, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(5 * 5**dims, 4),
    ).double()  # fmt: skip
    x = np.random.default_rng(1).normal(size=(B, 2, *spatial))
    with torch.no_grad():
        want = model(torch.tensor(x)).numpy()
    state = _numpy_state(model)
    net = layers.serial(
        layers.Conv(
            5, (3,) * dims, strides=2, padding=1, activation=jax.nn.relu, dtype=jnp.float64
        ),
        layers.Flatten(),
        layers.Dense(4, dtype=jnp.float64),
    )
    params = (
        from_torch.conv(state, prefix="0."),
        (),
        from_torch.linear(state, prefix="3.", flattened=(5, *(5,) * dims)),
    )
    assert_close(net.apply(params, jnp.moveaxis(jnp.asarray(x), 1, -1)), want)
