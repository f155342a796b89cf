"""Checkpoints: save a pytree to ``.npz`` by key path and load it back against a template.

``save(path, tree)`` writes every leaf as one array named by its key path
(``jax.tree_util.keystr``, e.g. ``.params[0].w``), plus a small JSON header with the format
version and each leaf's dtype and PRNG-key implementation. There is no pickle anywhere: the
file is read with ``allow_pickle=False``. The write is atomic: the data go to a temporary file
in the same directory, which is flushed, fsynced and then renamed over ``path`` with
``os.replace``, so a crash mid-write leaves the previous checkpoint untouched.

The temporary file is named ``.<name>.<host>.<pid>.<random>.tmp`` after the writing process.
A writer killed mid-write (``kill -9``, power loss) leaves its temporary file behind; the next
:func:`save` or :func:`load` of the same checkpoint removes every such file of that checkpoint
whose writer ran on this host and is no longer alive. A temporary file of a live writer, of
another host (whose processes cannot be checked from here) or of another checkpoint is never
touched. (Two containers sharing a hostname and a directory but not a pid namespace should not
write the same checkpoint.)

``load(path, like)`` rebuilds the structure of the template ``like`` (for example freshly
initialised parameters and optimizer state) and checks, in this order, that no key path is
missing, none is extra, and every shape and dtype matches; the first mismatch is reported with
its key path, the expected and the found value. Typed PRNG keys (``jax.random.key``) are stored
as ``jax.random.key_data`` and re-wrapped with the template's implementation. Python scalars in
the template are treated as 0-d arrays (``jnp.asarray`` dtypes) and come back as 0-d arrays.

Example::

    state = TrainState(params, opt_state, step=jnp.zeros((), jnp.int32), key=jax.random.key(0))
    fnnet.checkpoint.save("run/ckpt.npz", state)
    state = fnnet.checkpoint.load("run/ckpt.npz", like=state)
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import zipfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_FORMAT_VERSION = 1
_HEADER = "__fnnet_checkpoint__"  # cannot clash with a keystr, which is "" or starts with "[" / "."


def _is_key(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)


def _template_spec(leaf: Any, path: str) -> tuple[tuple[int, ...], np.dtype, str | None]:
    """Shape, dtype and key implementation (or None) that ``leaf`` expects in the file."""
    if isinstance(leaf, (bool, int, float, complex, np.generic)):
        leaf = jnp.asarray(leaf) if not isinstance(leaf, np.generic) else np.asarray(leaf)
    if _is_key(leaf):
        if isinstance(leaf, jax.ShapeDtypeStruct):
            raise TypeError(
                f"`like` leaf {path or '<root>'} is a ShapeDtypeStruct of PRNG keys; pass a real "
                f"key array (e.g. jax.random.key(0)) so its implementation is known."
            )
        impl = str(jax.random.key_impl(leaf))
        data = jax.eval_shape(jax.random.key_data, leaf)
        return tuple(data.shape), np.dtype(data.dtype), impl
    if not hasattr(leaf, "shape") or not hasattr(leaf, "dtype"):
        raise TypeError(
            f"`like` leaf {path or '<root>'} must be an array, a Python scalar or a "
            f"jax.ShapeDtypeStruct; got {type(leaf).__name__}."
        )
    return tuple(leaf.shape), np.dtype(leaf.dtype), None


def _leaf_arrays(tree: Any) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Host arrays by key path, and the per-leaf header entries (dtype, key impl)."""
    arrays: dict[str, np.ndarray] = {}
    entries: dict[str, dict[str, Any]] = {}
    for key_path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        path = jax.tree_util.keystr(key_path)
        if path in arrays:
            raise ValueError(f"`tree` has two leaves with the same key path {path!r}.")
        impl = None
        if _is_key(leaf):
            impl = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        elif isinstance(leaf, (bool, int, float, complex)):
            leaf = jnp.asarray(leaf)
        elif not hasattr(leaf, "dtype") or isinstance(leaf, jax.ShapeDtypeStruct):
            raise TypeError(
                f"`tree` leaf {path or '<root>'} must be an array or a Python scalar; got "
                f"{type(leaf).__name__}."
            )
        array = np.asarray(leaf)
        arrays[path] = array
        entries[path] = {"dtype": array.dtype.name, "key_impl": impl}
    return arrays, entries


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _host() -> str:
    """This machine's name, reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname()) or "localhost"


def _alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (a process of another user counts)."""
    if pid <= 0:
        return True  # not a pid we could have written: never treat it as dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists but belongs to someone else
        return True
    return True


def _temp_prefix(path: str) -> str:
    """The prefix of this process's temporary files for the checkpoint at ``path``."""
    return f".{os.path.basename(path)}.{_host()}.{os.getpid()}."


def _remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove temporary files left by writers of ``path`` that were killed mid-write.

    Only files named like this checkpoint's temporaries (``.<name>.<host>.<pid>.<random>.tmp``)
    with this host's name and the id of a process that no longer exists are removed; the
    temporaries of live writers (this process included), other hosts and other checkpoints
    stay. :func:`save` and :func:`load` call it; errors (an unreadable directory, a file
    removed meanwhile) are ignored.

    Args:
        path: the checkpoint file (it need not exist).

    Returns:
        The paths removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(
        rf"\.{re.escape(os.path.basename(path))}\.{re.escape(_host())}\.(\d+)\.[a-z0-9_]+\.tmp"
    )
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        try:
            os.remove(os.path.join(directory, name))
        except OSError:
            continue
        removed.append(os.path.join(directory, name))
    return removed


def _temporary_file(path: str, directory: str) -> tuple[int, str]:
    """Create the temporary file beside ``path``; an error names ``path`` and its directory
    (not the hidden temporary), keeping the ``OSError`` subclass (``FileNotFoundError``,
    ``PermissionError``, ...)."""
    try:
        return tempfile.mkstemp(dir=directory, prefix=_temp_prefix(path), suffix=".tmp")
    except OSError as err:
        if not os.path.isdir(directory):
            why = "does not exist; create it first (os.makedirs)"
        else:
            why = f"does not accept a new file ({err.strerror})"
        raise OSError(
            err.errno, f"cannot save to `path` {path!r}: its directory {directory!r} {why}"
        ) from err


def save(path: str | os.PathLike, tree: Any) -> None:
    """Write ``tree`` (params, optimizer state, step, PRNG key, ...) to ``path`` atomically.

    Args:
        path: destination file, used exactly as given (conventionally ending in ``.npz``).
            Its directory must exist and be writable; otherwise the ``OSError``
            (``FileNotFoundError``, ``PermissionError``) names ``path`` and the directory.
        tree: a pytree whose leaves are arrays (jax or numpy), typed PRNG keys or Python scalars.
    """
    path = os.fspath(path)
    arrays, entries = _leaf_arrays(tree)
    header = json.dumps(
        {"format": "fnnet.checkpoint", "version": _FORMAT_VERSION, "leaves": entries}
    )
    arrays[_HEADER] = np.array(header)
    directory = os.path.dirname(os.path.abspath(path))
    _remove_stale_temporaries(path)
    fd, tmp_path = _temporary_file(path, directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)  # read back without pickle too
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.remove(tmp_path)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _read(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header and all arrays of the checkpoint at ``path``; clear errors for foreign/corrupt files."""
    try:
        with open(path, "rb") as f:  # we own the handle, so it is closed even if parsing fails
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("a bare .npy array, not an .npz archive")
            if _HEADER not in npz.files:
                raise ValueError("no fnnet checkpoint header")
            arrays = {name: npz[name] for name in npz.files}
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"`path` {path!r} is not a readable fnnet checkpoint (corrupted, truncated or a "
            f"different format): {type(err).__name__}: {err}"
        ) from err
    try:
        header = json.loads(str(arrays.pop(_HEADER)))
        version = int(header["version"])
        entries = dict(header["leaves"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"`path` {path!r} has an unreadable fnnet checkpoint header: {err}"
        ) from err
    if version > _FORMAT_VERSION:
        raise ValueError(
            f"`path` {path!r} is checkpoint format version {version}; this fnnet reads versions "
            f"up to {_FORMAT_VERSION}."
        )
    return entries, arrays


def _mismatch(path: str, where: str, what: str) -> ValueError:
    return ValueError(
        f"checkpoint `path` {path!r} does not match `like` at key path {where or '<root>'}: {what}"
    )


def load(path: str | os.PathLike, like: Any) -> Any:
    """Read the checkpoint at ``path`` into the structure of the template ``like``.

    Args:
        path: a file written by :func:`save`.
        like: a pytree with the expected structure, shapes and dtypes (values are ignored).
            Leaves may be jax or numpy arrays, typed PRNG keys, Python scalars or
            ``jax.ShapeDtypeStruct``.

    Returns:
        A tree like ``like``: jax arrays where ``like`` has jax arrays, scalars or
        ShapeDtypeStructs, numpy arrays where it has numpy arrays, typed keys where it has keys.

    Raises:
        ValueError: unreadable file, or the first missing/extra key path, shape or dtype mismatch.
    """
    path = os.fspath(path)
    _remove_stale_temporaries(path)
    entries, arrays = _read(path)
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    names = [jax.tree_util.keystr(key_path) for key_path, _ in flat]
    specs = [_template_spec(leaf, name) for name, (_, leaf) in zip(names, flat)]
    missing = [(name, spec) for name, spec in zip(names, specs) if name not in arrays]
    if missing:
        name, (shape, dtype, _) = missing[0]
        raise _mismatch(
            path,
            name,
            f"expected an array of shape {shape} dtype {dtype}, got none in the file "
            f"({len(missing)} key path(s) missing).",
        )
    extra = [name for name in arrays if name not in set(names)]
    if extra:
        raise _mismatch(
            path,
            extra[0],
            f"the file has this key path (shape {arrays[extra[0]].shape}) but `like` does not "
            f"({len(extra)} extra key path(s)).",
        )
    leaves = []
    for name, (_, template), (shape, dtype, impl) in zip(names, flat, specs):
        array, entry = arrays[name], entries.get(name, {})
        stored_impl, stored_dtype = entry.get("key_impl"), entry.get("dtype", array.dtype.name)
        if impl != stored_impl:
            raise _mismatch(
                path, name, f"expected PRNG key implementation {impl}, got {stored_impl}."
            )
        if array.shape != shape:
            raise _mismatch(path, name, f"expected shape {shape}, got {array.shape}.")
        if stored_dtype != dtype.name:
            raise _mismatch(path, name, f"expected dtype {dtype.name}, got {stored_dtype}.")
        if array.dtype != dtype:  # e.g. bfloat16, which .npy stores as raw bytes ("V2")
            array = array.view(dtype)
        if impl is not None:
            leaves.append(jax.random.wrap_key_data(jnp.asarray(array), impl=impl))
        elif isinstance(template, np.ndarray):
            leaves.append(array)
        else:
            leaves.append(jnp.asarray(array))
    return jax.tree_util.tree_unflatten(treedef, leaves)


__all__ = ["save", "load"]
