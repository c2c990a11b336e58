"""The Kafka floor: a raw confluent-kafka produce -> consume hop, no project code.

The producer gets the relay's settings (passed in by run.py from
apps.configs.publisher.producer_config(): idempotent, acks=all, linger 0,
Nagle off, murmur2 partitioner), the consumer the SDK's (assign, no group,
fetch.wait.max.ms 100, fetch.min.bytes 1) on the listener and with the
security the spec gives. Same broker, same topic, a key of its own. Per message: produce() -> consumer.poll() returns it (the hop), and
produce() -> delivery report (the relay's "commit -> delivery" floor).
Prints one JSON line, with the producer's librdkafka statistics (broker rtt).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition


def main() -> None:
    spec = json.loads(sys.argv[1])
    topic, key = spec["topic"], spec["key"].encode()
    stats: dict = {}
    producer = Producer({**spec["producer"], "statistics.interval.ms": 1000,
                         "stats_cb": lambda raw: stats.update(json.loads(raw))})
    consumer = Consumer({
        **spec["consumer"],
        "group.id": f"noreboot-bench-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "fetch.wait.max.ms": 100,
        "fetch.min.bytes": 1,
        "client.id": "noreboot-bench-floor",
    })

    def payload(i: int) -> bytes:
        # The size and shape of a real outbox event.
        return json.dumps({
            "namespace": spec["key"], "name": "floor", "value": i, "version": i, "revision": i, "op": "upsert",
            "event_id": str(uuid.uuid4()), "changed_at": "2025-01-01T00:00:00.000000Z", "actor": "bench",
            "request_id": uuid.uuid4().hex,
        }, separators=(",", ":")).encode()

    acked: dict[int, int] = {}
    where: dict = {}

    def on_delivery(i: int):
        def report(error, message):
            if error is None:
                acked[i] = time.monotonic_ns()
                where["partition"], where["offset"] = message.partition(), message.offset()

        return report

    def send(i: int) -> int:
        body = payload(i)
        t0 = time.monotonic_ns()
        producer.produce(topic, value=body, key=key, headers=[("i", str(i).encode())], on_delivery=on_delivery(i))
        producer.poll(0)
        return t0

    # The consumer connects to the broker (one broker leads every partition)
    # while the producer starts, instead of after it.
    connecting = threading.Thread(target=consumer.get_watermark_offsets, args=(TopicPartition(topic, 0),),
                                  kwargs={"timeout": 10}, daemon=True)
    connecting.start()
    # A first message tells which partition carries the key.
    send(-1)
    producer.flush(10)
    connecting.join(10)
    consumer.assign([TopicPartition(topic, where["partition"], where["offset"] + 1)])

    arrived: dict[int, int] = {}
    got = threading.Condition()
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            message = consumer.poll(0.1)  # a message ends the wait at once; stop is seen within 0.1 s
            if message is None or message.error() is not None or message.key() != key:
                continue
            t = time.monotonic_ns()
            i = int(message.headers()[0][1])
            with got:
                arrived[i] = t
                got.notify_all()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    # Let the consumer's first fetch reach the broker.
    warm = send(-2)
    with got:
        got.wait_for(lambda: -2 in arrived, 10)
    del warm

    hops, acks, lost = [], [], 0
    for i in range(spec["warmup"] + spec["count"]):
        t0 = send(i)
        deadline = time.monotonic() + 5
        while i not in acked and time.monotonic() < deadline:
            producer.poll(0.05)
        with got:
            ok = got.wait_for(lambda i=i: i in arrived, max(0.0, deadline - time.monotonic()))
        if i >= spec["warmup"]:
            if ok and i in acked:
                hops.append((arrived[i] - t0) / 1e6)
                acks.append((acked[i] - t0) / 1e6)
            else:
                lost += 1
        time.sleep(spec["gap"])

    producer.poll(0.1)  # serve the latest statistics callback
    stop.set()
    thread.join(2)
    consumer.close()
    producer.flush(5)
    brokers = [b for name, b in stats.get("brokers", {}).items() if b.get("nodeid", -1) >= 0]
    rtt = {k: brokers[0]["rtt"][k] for k in ("avg", "p50", "p99", "max")} if brokers else {}
    int_latency = {k: brokers[0]["int_latency"][k] for k in ("avg", "p50", "p99")} if brokers else {}
    sys.stdout.write(json.dumps({"hop_ms": hops, "ack_ms": acks, "lost": lost, "partition": where.get("partition"),
                                 "broker_rtt_us": rtt, "broker_int_latency_us": int_latency}) + "\n")


if __name__ == "__main__":
    main()
