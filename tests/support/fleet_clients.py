"""A client service process holding several SDK clients of one namespace, as
tests/test_fleet.py runs them: `python -m tests.support.fleet_clients`.

Arguments: API URL, token, namespace, then instance ids; `--labels k=v,...`,
`--at-most name=number` (a validator refusing larger values), and
`--report-interval`. It prints "ready" once every client started, then
answers each stdin line `read <name>` with one JSON line {instance_id: value}."""

import argparse
import json
import sys

from noreboot import ConfigClient


def at_most(limit: float):
    def validator(value):
        if value > limit:
            raise ValueError(f"{value} is above {limit}")
        return True

    return validator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("api_url")
    parser.add_argument("token")
    parser.add_argument("namespace")
    parser.add_argument("instance_ids", nargs="+")
    parser.add_argument("--labels", default="")
    parser.add_argument("--at-most", default="")
    parser.add_argument("--report-interval", type=float, default=1.0)
    options = parser.parse_args()
    labels = dict(item.split("=", 1) for item in options.labels.split(",") if item)
    clients = []
    for instance_id in options.instance_ids:
        client = ConfigClient(namespace=options.namespace, api_url=options.api_url, token=options.token,
                              instance_id=instance_id, labels=labels, report_interval=options.report_interval)
        if options.at_most:
            name, limit = options.at_most.split("=", 1)
            client.add_validator(name, at_most(float(limit)))
        clients.append(client.start())
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, name = line.strip().partition(" ")
        if command == "read":
            print(json.dumps({client.instance_id: client.get(name) for client in clients}), flush=True)
    for client in clients:
        client.close()


if __name__ == "__main__":
    main()
