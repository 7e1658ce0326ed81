"""KRX's text forms: ISINs, ``"5,489,240"`` integers, ``"12.34"`` ratios, half-up hundredths.

Daily files are built as byte matrices, one row per record, with NUL padding that is dropped at
the end: numpy does the digit work instead of one Python call per value.
"""

from __future__ import annotations

import math

import numpy as np

fmt_int = "{:,}".format

_POW10 = 10 ** np.arange(19, dtype=np.int64)


def isin_for(code: str) -> str:
    """A 12-character ISIN ``KR7`` + code + ``00`` + the ISIN (Luhn) check digit."""
    body = f"KR7{code}00"
    digits = "".join(str(int(ch, 36)) for ch in body)
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = int(ch)
        if k % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return body + str((10 - total % 10) % 10)


def hundredths(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """round(num / den * 100, 2) in hundredths for non-negative integers, half up (den > 0)."""
    return (num * 20_000 + den) // (2 * den)


def is_half(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """True where num / den * 100 is exactly halfway between two hundredths."""
    return (num * 20_000) % (2 * den) == den


def signed_hundredths(num: int, den: int) -> int:
    q = (abs(num) * 20_000 + den) // (2 * den)
    return -q if num < 0 else q


def fmt_signed_hundredths(c: int) -> str:
    sign = "-" if c < 0 else ""
    a = abs(c)
    return f"{sign}{a // 100:,}.{a % 100:02d}"


def fluc(change: int) -> str:
    """KRX's FLUC_TP_CD: 1 up, 2 down, 3 unchanged."""
    return "1" if change > 0 else ("2" if change < 0 else "3")


def int_field(v: np.ndarray) -> np.ndarray:
    """Non-negative integers as ``"5,489,240"`` text: an (n, width) uint8 matrix, NUL-padded."""
    v = np.asarray(v, dtype=np.int64)
    if len(v) == 0:
        return np.zeros((0, 1), dtype=np.uint8)
    if (v < 0).any():
        raise ValueError("int_field takes non-negative integers only")
    nmax = len(str(int(v.max())))
    ndigits = 1 + (v[:, None] >= _POW10[None, 1:nmax]).sum(axis=1)
    digits = (v[:, None] // _POW10[None, :nmax]) % 10
    width = nmax + (nmax - 1) // 3
    j = np.arange(width)  # position counted from the right
    is_comma = j % 4 == 3
    k = np.where(is_comma, (j + 1) - (j + 1) // 4, j - j // 4)  # digit index (left of a comma)
    chars = np.where(is_comma[None, :], 44, 48 + digits[:, k])
    out = np.where(ndigits[:, None] > k[None, :], chars, 0).astype(np.uint8)
    return out[:, ::-1]


def hundredths_field(c: np.ndarray) -> np.ndarray:
    """Non-negative hundredths as ``"12.34"`` text (no thousands separator below 1,000)."""
    c = np.asarray(c, dtype=np.int64)
    frac = np.stack([np.full(len(c), 46), 48 + (c // 10) % 10, 48 + c % 10], axis=1)
    return np.concatenate([int_field(c // 100), frac.astype(np.uint8)], axis=1)


def signed_hundredths_field(c: np.ndarray) -> np.ndarray:
    """Signed hundredths as ``"-4.18"`` text."""
    c = np.asarray(c, dtype=np.int64)
    sign = np.where(c < 0, 45, 0).astype(np.uint8)[:, None]
    return np.concatenate([sign, hundredths_field(np.abs(c))], axis=1)


def twice_rounded(num: int, den: int) -> int:
    """KRX's top-50 ratios in hundredths: num / den x 100 half up to three decimals, then to
    two (non-negative integers, den > 0)."""
    return ((num * 200_000 + den) // (2 * den) + 5) // 10


def hundredths_of(x: float) -> int:
    """A non-negative figure in hundredths, half up."""
    return math.floor(x * 100 + 0.5)


def _const(text: str, n: int) -> np.ndarray:
    return np.broadcast_to(np.frombuffer(text.encode(), dtype=np.uint8), (n, len(text.encode())))


def text_matrix(texts: list[str]) -> np.ndarray:
    """Strings as NUL-padded rows of UTF-8 bytes."""
    raw = [t.encode() for t in texts]
    width = max((len(b) for b in raw), default=1)
    return np.frombuffer(b"".join(b.ljust(width, b"\0") for b in raw), dtype=np.uint8).reshape(
        len(raw), width
    )


def records(head: np.ndarray, fields: list[np.ndarray], seps: tuple[str, ...]) -> bytes:
    """``head field sep field sep ...`` per row, joined; the trailing comma removed."""
    n = head.shape[0]
    if n == 0:
        return b""
    parts = [head]
    for fld, sep in zip(fields, seps, strict=True):
        parts += [fld, _const(sep, n)]
    m = np.concatenate(parts, axis=1)
    return m[m != 0].tobytes()[:-1]
