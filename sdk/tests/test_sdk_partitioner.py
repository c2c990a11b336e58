import pytest
from noreboot.partitioner import murmur2, partition_for_key, partition_for_namespace

# Kafka's own expectations for Utils.murmur2 (UtilsTest.testMurmur2), as Java
# signed ints.
JAVA_VECTORS = [
    ("21", -973932308),
    ("foobar", -790332482),
    ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829),
    ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ("abc", 479470107),
]

# librdkafka's unit test of rd_murmur2 (the hash behind murmur2_random, which
# the relay uses), as unsigned ints; the suffixes cover every tail length.
LIBRDKAFKA_VECTORS = [
    ("kafka", 0xD067CF64),
    ("giberish123456789", 0x8F552B0C),
    ("1234", 0x9FC97B14),
    ("234", 0xE7C009CA),
    ("34", 0x873930DA),
    ("4", 0x5A4B5CA1),
    ("PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424F1C),
    ("reAmbleWillBeRemoved,ThePrePartThatIs", 0x4A62B377),
    ("eAmbleWillBeRemoved,ThePrePartThatIs", 0xE0E4E09E),
    ("AmbleWillBeRemoved,ThePrePartThatIs", 0x62B8B43F),
    ("", 0x106E08D9),
]


@pytest.mark.parametrize(("key", "expected"), JAVA_VECTORS)
def test_murmur2__kafka_java_vector__matches_java(key, expected):
    assert murmur2(key.encode("utf-8")) == expected


@pytest.mark.parametrize(("key", "expected"), LIBRDKAFKA_VECTORS)
def test_murmur2__librdkafka_vector__matches_librdkafka(key, expected):
    assert murmur2(key.encode("utf-8")) & 0xFFFFFFFF == expected


def test_murmur2__any_input__stays_in_java_int_range():
    for length in range(40):
        value = murmur2(bytes(range(length)))
        assert -(2**31) <= value < 2**31


@pytest.mark.parametrize(("key", "expected"), JAVA_VECTORS)
def test_partition_for_key__known_hash__clears_sign_bit_then_modulo(key, expected):
    for partitions in (1, 3, 6, 7, 12, 100):
        assert partition_for_key(key.encode(), partitions) == (expected & 0x7FFFFFFF) % partitions


def test_partition_for_key__negative_hash__is_not_abs():
    # "21" hashes negative; Java's toPositive masks (abs() would differ).
    hashed = murmur2(b"21")
    assert hashed < 0
    assert partition_for_key(b"21", 1000) == (hashed & 0x7FFFFFFF) % 1000 != abs(hashed) % 1000


def test_partition_for_namespace__namespace__hashes_its_utf8_bytes():
    assert partition_for_namespace("acme/prod/checkout", 6) == partition_for_key(b"acme/prod/checkout", 6)
    assert 0 <= partition_for_namespace("acme/prod/checkout", 6) < 6


def test_partition_for_key__no_partitions__raises():
    with pytest.raises(ValueError):
        partition_for_key(b"x", 0)
