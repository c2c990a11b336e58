"""The run's pictures, drawn from its raw samples (bench/results/latest.json
keeps the same samples): where propagation and polling put a change's
staleness, and what a PUT costs its caller under load. PNG files beside the
table in bench/results/."""

from __future__ import annotations

from pathlib import Path

PROPAGATION = (("propagation.n1", "SDK, N=1"), ("propagation.n20", "SDK, N=20"), ("propagation.n100", "SDK, N=100"))
POLLING = (("polling.plain", "polling 1 s, plain GET"), ("polling.etag", "polling 1 s, If-None-Match"))
WRITES = (("writes.distinct", "8 writers x 8 configs"), ("writes.one_config", "8 writers x 1 config"),
          ("writes.namespaces", "8 writers x 8 namespaces"))


def write_charts(raw: dict, results: Path) -> list[Path]:
    """The charts that the run has samples for; the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    def cdf(axes, series: list[tuple[str, list[float]]], xlabel: str) -> bool:
        drawn = False
        for label, samples in series:
            if samples:
                ordered = sorted(samples)
                axes.step(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], where="post",
                          label=f"{label} (n={len(ordered)})")
                drawn = True
        axes.set_xscale("log")
        axes.set_xlabel(xlabel)
        axes.set_ylabel("share of samples at or below")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(loc="lower right", fontsize="small")
        return drawn

    propagation = [(label, [ms for write in raw.get(key, []) for ms in write["apply_ms"]]) for key, label in PROPAGATION]
    polling = [(label, raw.get(key, [])) for key, label in POLLING]
    writes = [(label, raw.get(key, [])) for key, label in WRITES]
    charts = (
        ("propagation_cdf.png", "PUT -> value seen: SDK clients and 1 s polling", propagation + polling,
         "ms from the PUT (log scale)"),
        ("write_latency.png", "PUT response time under load (closed loop)", writes, "ms (log scale)"),
    )
    written = []
    for name, title, series, xlabel in charts:
        figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
        if cdf(axes, series, xlabel):
            axes.set_title(title)
            figure.tight_layout()
            figure.savefig(results / name)
            written.append(results / name)
        plt.close(figure)
    return written
