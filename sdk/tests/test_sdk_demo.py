import os
import signal
import subprocess
import sys
import time

from noreboot.demo import describe_cycle
from stub_snapshot_api import NAMESPACE


def run_demo(env_overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOREBOOT_")}
    env.update(env_overrides)
    return subprocess.Popen(
        [sys.executable, "-m", "noreboot.demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_describe_cycle__values__one_line_saying_what_it_does():
    assert describe_cycle(12, 34, 2.5, True) == (
        "cycle 12 rev 34: calling upstream with timeout=2.5s, new checkout flow ON"
    )
    assert "classic checkout flow" in describe_cycle(1, 1, 1.0, False)


def test_demo__no_settings__exits_1_naming_the_env_var():
    process = run_demo({})
    out, err = process.communicate(timeout=30)

    assert process.returncode == 1
    assert "NOREBOOT_NAMESPACE" in err


def test_demo__sigterm__prints_cycles_and_exits_cleanly(snapshot_server, closed_port_url):
    process = run_demo(
        {
            "NOREBOOT_NAMESPACE": NAMESPACE,
            "NOREBOOT_URL": snapshot_server.url,
            "NOREBOOT_TOKEN": "secret",
            "NOREBOOT_KAFKA_BOOTSTRAP": closed_port_url.removeprefix("http://"),
            "NOREBOOT_DEMO_INTERVAL": "0.1",
        }
    )
    deadline = time.monotonic() + 20
    lines = []
    while time.monotonic() < deadline and len(lines) < 3:
        lines.append(process.stdout.readline())
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)

    assert process.returncode == 0, err
    assert lines[0].startswith(f"serving {NAMESPACE} from the api at revision 12")
    assert "timeout=2.5s, classic checkout flow" in lines[1]
    assert out.rstrip().endswith("stopped")
