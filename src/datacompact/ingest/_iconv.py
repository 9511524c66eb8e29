"""GBK to UTF-8 through the C library's ``iconv(3)``, off the GIL.

Python's GBK codec decodes about 270 MB/s on one core and holds the GIL while
it does, so a transcoding thread starves the thread that hands DuckDB's
batches to the Parquet writer. glibc's ``iconv`` converts the same text at
about 450 MB/s, and a ``ctypes`` call releases the GIL for its duration, so
the conversion overlaps with DuckDB's parsing on another core.

The C library is trusted only after a self-check: every two-byte sequence
that Python's ``gbk`` codec accepts (21,791 of them) must convert to exactly
what Python produces. Two differences remain on *invalid* input, and both are
caught so that strictness stays Python's:

* glibc follows code page 936 and maps a lone byte 0x80 to U+20AC (euro
  sign); Python rejects it. Python's ``gbk`` never yields U+20AC, so a euro
  sign in the output sends that chunk back to Python, which names the line.
* any sequence glibc rejects (``EILSEQ``) is re-decoded by Python for the
  same reason.

GB 18030 always uses Python's codec: glibc implements GB 18030-2005, which
maps 25 characters (vertical punctuation, ``0xA6D9``-``0xA6DF`` and others)
differently from the GB 18030-2022 tables that Python ships.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
from typing import Any

_EURO = "€".encode()
_FAILED = ctypes.c_size_t(-1).value


class IconvError(Exception):
    """Internal: the bytes at ``offset`` (of the chunk passed in) do not convert."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - every POSIX system has one
        return None
    try:
        lib = ctypes.CDLL(name, use_errno=True)
        open_, conv, close = lib.iconv_open, lib.iconv, lib.iconv_close
    except (OSError, AttributeError):  # pragma: no cover - no iconv in this C library
        return None
    open_.restype = ctypes.c_void_p
    open_.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    pointer = ctypes.POINTER(ctypes.c_void_p)
    size = ctypes.POINTER(ctypes.c_size_t)
    conv.restype = ctypes.c_size_t
    conv.argtypes = [ctypes.c_void_p, pointer, size, pointer, size]
    close.argtypes = [ctypes.c_void_p]
    return lib


class GbkConverter:
    """A stateful GBK to UTF-8 converter; ``convert`` keeps an incomplete tail for the next call."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        handle = lib.iconv_open(b"UTF-8", b"GBK")
        if handle is None or handle == _FAILED:
            raise OSError("iconv_open failed")
        self._cd = handle
        self._out = ctypes.create_string_buffer(0)
        self.pending = b""

    def close(self) -> None:
        if self._cd is not None:
            self._lib.iconv_close(self._cd)
            self._cd = None

    def __enter__(self) -> GbkConverter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def convert(self, chunk: bytes) -> bytes:
        """UTF-8 for ``pending + chunk``; an incomplete final character stays pending.

        Raises :class:`IconvError` with the offset of the first byte that does
        not convert, counted in ``pending + chunk``.
        """
        data = self.pending + chunk if self.pending else chunk
        # Two GBK bytes become at most three UTF-8 bytes (one byte stays one).
        need = len(data) * 2 + 16
        if len(self._out) < need:
            self._out = ctypes.create_string_buffer(need)
        source = ctypes.c_char_p(data)  # borrows the bytes object's buffer, no copy
        in_ptr = ctypes.c_void_p(ctypes.cast(source, ctypes.c_void_p).value)
        in_left = ctypes.c_size_t(len(data))
        out_ptr = ctypes.c_void_p(ctypes.addressof(self._out))
        out_left = ctypes.c_size_t(need)
        result = self._lib.iconv(
            self._cd,
            ctypes.byref(in_ptr),
            ctypes.byref(in_left),
            ctypes.byref(out_ptr),
            ctypes.byref(out_left),
        )
        consumed = len(data) - in_left.value
        failure = ctypes.get_errno() if result == _FAILED else 0
        if failure == errno.EILSEQ:
            raise IconvError(consumed)
        if failure not in (0, errno.EINVAL):  # pragma: no cover - E2BIG cannot happen here
            raise IconvError(consumed)
        self.pending = data[consumed:]
        out = ctypes.string_at(self._out, need - out_left.value)
        if _EURO in out:
            raise IconvError(0)  # a lone 0x80: let Python locate and reject it
        return out


@functools.cache
def gbk_converter_available() -> bool:
    """Whether the C library converts GBK exactly as Python's codec does (checked once)."""
    lib = _libc()
    if lib is None:  # pragma: no cover
        return False
    pairs = []
    for lead in range(0x81, 0xFF):
        for trail in range(0x40, 0xFF):
            pair = bytes((lead, trail))
            try:
                pair.decode("gbk")
            except UnicodeDecodeError:
                continue
            pairs.append(pair)
    probe = b"\n".join(pairs) + b"\nASCII 0-9,\n"
    try:
        with GbkConverter(lib) as converter:
            got = converter.convert(probe)
            complete = not converter.pending
    except (OSError, IconvError):  # pragma: no cover - no GBK module installed
        return False
    return complete and got == probe.decode("gbk").encode("utf-8")


def gbk_converter() -> GbkConverter | None:
    """A fresh converter, or ``None`` when Python's codec must be used."""
    if not gbk_converter_available():  # pragma: no cover - glibc hosts have it
        return None
    return GbkConverter(_libc())
