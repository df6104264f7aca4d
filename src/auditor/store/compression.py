"""Compressing the large blobs a sweep keeps for the next one (rule states, KPI records).

Zstandard at level 1: a third of zlib's time for a smaller blob. Blobs stored before it are told apart (a
Zstandard frame starts with its magic number, which neither a zlib stream (0x78) nor MessagePack starts with) and
handed to the caller's `earlier`: rule states stored with zlib are still read; KPI records of that time are of an
earlier format, read again from the facts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # a Zstandard frame's first bytes


def compress(data: bytes) -> bytes:
    """`data` as a Zstandard frame."""
    return zstandard.ZstdCompressor(level=1).compress(data)


def compress_pieces(pieces: Sequence[bytes | memoryview]) -> bytes:
    """The pieces joined, as one Zstandard frame (as `compress` gives it), without joining them first."""
    compressor = zstandard.ZstdCompressor(level=1).compressobj(size=sum(len(piece) for piece in pieces))
    return b"".join([*map(compressor.compress, pieces), compressor.flush()])


def decompress(blob: bytes, earlier: Callable[[bytes], bytes]) -> bytes:
    """What `compress` was given; a blob stored before it (no Zstandard frame) goes through `earlier`."""
    if blob[:4] == ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().decompress(blob)
    return earlier(blob)
