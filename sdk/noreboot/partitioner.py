"""Which Kafka partition carries a namespace.

The relay produces with librdkafka's ``murmur2_random`` partitioner, which is
the Java client's default for non-null keys. Computing the same partition
here lets the SDK assign that one partition instead of reading every
namespace of every tenant. Pure Python because the Kafka client does not
expose its hash function.
"""

import struct

_MASK_32 = 0xFFFFFFFF
# Constants of Kafka's Utils.murmur2 (MurmurHash2 by Austin Appleby, with
# Kafka's fixed seed); any other seed would pick other partitions.
_SEED = 0x9747B28C
_MULTIPLIER = 0x5BD1E995
_SHIFT = 24
_BLOCKS = struct.Struct("<I")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of ``data`` as a signed 32-bit int, as Java returns it."""
    length = len(data)
    block_end = length - (length & 3)
    h = (_SEED ^ length) & _MASK_32

    # Each 4-byte block is read little-endian, as Java assembles it by hand.
    for (k,) in _BLOCKS.iter_unpack(data[:block_end]):
        k = (k * _MULTIPLIER) & _MASK_32
        k ^= k >> _SHIFT
        k = (k * _MULTIPLIER) & _MASK_32
        h = ((h * _MULTIPLIER) & _MASK_32) ^ k

    # The 1-3 trailing bytes are folded in from the highest one down, the
    # multiplication happening once, only if there is a tail at all.
    tail = length & 3
    if tail == 3:
        h ^= data[block_end + 2] << 16
    if tail >= 2:
        h ^= data[block_end + 1] << 8
    if tail >= 1:
        h ^= data[block_end]
        h = (h * _MULTIPLIER) & _MASK_32

    h ^= h >> 13
    h = (h * _MULTIPLIER) & _MASK_32
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a non-null ``key``."""
    if partitions < 1:
        raise ValueError(f"partition count must be at least 1, got {partitions}")
    # Java's Utils.toPositive: clear the sign bit rather than abs(), so
    # Integer.MIN_VALUE maps to 0 instead of staying negative.
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partition_for_namespace(namespace: str, partitions: int) -> int:
    """The partition that carries ``namespace`` (the record key, UTF-8)."""
    return partition_for_key(namespace.encode("utf-8"), partitions)
