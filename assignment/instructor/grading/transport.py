"""Plain-data transport of answers out of the sandbox: JSON, never pickle.

Arrays travel as {"__ndarray__": nested lists, "dtype": name, "shape": [...]};
decoding accepts only numeric dtypes and caps the size, so a hostile payload
can only be wrong, never dangerous.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 12
ALLOWED_KINDS = "biuf"  # bool, int, unsigned, float


class TransportError(ValueError):
    """The payload is not a well-formed answer."""


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {"__float__": repr(value)}  # nan, inf, -inf survive the trip


def encode(value: Any, depth: int = 0) -> Any:
    """Turn an answer (arrays, numbers, lists, dicts, strings, None) into JSON data."""
    if depth > MAX_DEPTH:
        return {"__unsupported__": "nested too deeply"}
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        array = np.asarray(value)
        if array.dtype.kind not in ALLOWED_KINDS:
            return {"__unsupported__": f"array of dtype {array.dtype}"}
        flat = [_float(float(v)) if array.dtype.kind == "f" else v for v in array.ravel().tolist()]
        return {"__ndarray__": flat, "dtype": array.dtype.name, "shape": list(array.shape)}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (list, tuple)):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v, depth + 1) for k, v in value.items()}
    return {"__unsupported__": f"a {type(value).__name__}"}


def dumps(value: Any) -> str:
    return json.dumps(encode(value), allow_nan=False)


def _decode(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH + 1:
        raise TransportError("nested too deeply")
    if isinstance(value, list):
        return [_decode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if "__ndarray__" in value:
            dtype = np.dtype(str(value["dtype"]))
            if dtype.kind not in ALLOWED_KINDS:
                raise TransportError(f"dtype {dtype} is not allowed")
            flat = [float(v["__float__"]) if isinstance(v, dict) else v for v in value["__ndarray__"]]
            shape = tuple(int(n) for n in value["shape"])
            return np.array(flat, dtype=dtype).reshape(shape)
        if "__float__" in value:
            return float(value["__float__"])
        if "__unsupported__" in value:
            return Unsupported(str(value["__unsupported__"]))
        return {str(k): _decode(v, depth + 1) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TransportError(f"unexpected {type(value).__name__}")


class Unsupported:
    """An answer of a kind that cannot travel (an object, a function...)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"<{self.what}>"


def loads(text: str) -> Any:
    """Decode a payload; raise TransportError on anything malformed."""
    if len(text) > MAX_PAYLOAD_BYTES:
        raise TransportError(f"the report is larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        return _decode(json.loads(text))
    except TransportError:
        raise
    except Exception as error:
        raise TransportError(f"unreadable report ({type(error).__name__}: {error})") from None
