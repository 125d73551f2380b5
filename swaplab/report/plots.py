"""The report's figures, drawn with matplotlib as inline SVG (no external file, font or script).

Readable in print and by colour-blind readers: the Okabe-Ito palette, and every series also told
apart by a hatch or a line style and named in a legend. Each function returns an ``<svg>`` element
as text, ready to sit in the page.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: render to files only

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from swaplab.records import FindingRecord, FioRun, HogTrial
from swaplab.report.timeline import NasTimeline, Timeline

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
STORE_COLOR = {"nfs": "#D55E00", "nbd": "#0072B2"}
STORE_HATCH = {"nfs": "//", "nbd": ""}
FINDING_COLOR = {"fail": "#CC79A7", "warn": "#E69F00", "info": "#999999"}
plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "font.family": "sans-serif", "axes.grid": True,
                     "grid.alpha": 0.3, "figure.dpi": 96})  # fmt: skip
_figures = itertools.count()


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prolog and doctype: the SVG sits inside HTML
    # Every figure names its elements alike (figure_1, axes_1, clip paths): give this one's ids a
    # prefix of their own, references included, so that several figures share a page.
    prefix = f"f{next(_figures)}-"
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", text)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', text)


def trials(hogs: Sequence[HogTrial]) -> str:
    """Each trial's hog time on NFS and on NBD, side by side."""
    numbers = sorted({t.trial for t in hogs if t.trial is not None})
    fig, ax = plt.subplots(figsize=(6.4, 2.2 + 0.1 * len(numbers)))
    width = 0.38
    for k, store in enumerate(("nfs", "nbd")):
        xs, ys = [], []
        for i, n in enumerate(numbers):
            t = next((h for h in hogs if h.trial == n and h.store == store and h.total_s is not None), None)
            if t is not None and t.total_s is not None:
                xs.append(i + (k - 0.5) * width)
                ys.append(t.total_s)
        bars = ax.bar(xs, ys, width, label=store.upper(), color=STORE_COLOR[store], hatch=STORE_HATCH[store],
                      edgecolor="black", linewidth=0.5)  # fmt: skip
        ax.bar_label(bars, fmt="%.0f s", fontsize=8)
    ax.set_xticks(range(len(numbers)), [f"trial {n}" for n in numbers])
    ax.set_xlim(-0.7, len(numbers) - 0.3)
    ax.set_ylabel("hog time (s)")
    ax.margins(y=0.15)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, frameon=False)
    return _svg(fig)


def fio(runs: Sequence[FioRun]) -> str:
    """fio bandwidth and p99 latency per job, NFS against NBD (fio alone)."""
    alone = [r for r in runs if not r.under_pressure]
    jobs = sorted({j.job for r in alone for j in r.jobs})
    fig, (bw, lat) = plt.subplots(1, 2, figsize=(8.4, 2.6))
    width = 0.38
    for k, store in enumerate(("nfs", "nbd")):
        run = next((r for r in alone if r.store == store), None)
        if run is None:
            continue
        by_job = {j.job: j for j in run.jobs}
        xs = [i + (k - 0.5) * width for i, name in enumerate(jobs) if name in by_job]
        style = {"color": STORE_COLOR[store], "hatch": STORE_HATCH[store], "edgecolor": "black", "linewidth": 0.5}
        bw.bar(xs, [by_job[n].bw_mib_s for n in jobs if n in by_job], width, label=store.upper(), **style)
        lat.bar(xs, [by_job[n].p99_ms or 0.0 for n in jobs if n in by_job], width, label=store.upper(), **style)
    for ax, label in ((bw, "bandwidth (MiB/s)"), (lat, "p99 completion latency (ms)")):
        ax.set_xticks(range(len(jobs)), jobs, rotation=20, ha="right")
        ax.set_ylabel(label)
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, frameon=False)
    lat.set_yscale("log")
    lat.yaxis.set_major_formatter(ScalarFormatter())
    lat.yaxis.set_minor_formatter(ScalarFormatter())
    return _svg(fig)


def timeline(tl: Timeline, findings: Sequence[FindingRecord], title: str) -> str:
    """A load's swap-out and swap-in rates, free memory and swap used, with each finding marked when it happened."""
    fig, (rate, mem) = plt.subplots(2, 1, figsize=(8.4, 3.8), sharex=True)
    rate.plot(tl.t_s, tl.swap_out_mib_s, color="#0072B2", linestyle="-", label="swap-out")
    rate.plot(tl.t_s, tl.swap_in_mib_s, color="#D55E00", linestyle="--", label="swap-in")
    rate.set_ylabel("MiB/s")
    rate.set_title(title, fontsize=9, loc="left")
    mem.plot(tl.t_s, tl.mem_free_mib, color="#009E73", linestyle="-", label="free memory")
    if tl.swap_total_mib:
        mem.plot(tl.t_s, tl.swap_used_mib, color="#CC79A7", linestyle=":", linewidth=2, label="swap used")
    mem.set_ylabel("MiB")
    mem.set_xlabel("seconds into the load")
    for f in findings:
        if f.at_s is None or f.severity == "info":
            continue
        for ax in (rate, mem):
            ax.axvline(f.at_s, color=FINDING_COLOR.get(f.severity, "#000000"), linewidth=1.2, linestyle="-.")
        rate.annotate(f.kind, (f.at_s, 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                      va="top", ha="right")  # fmt: skip
    rate.legend(loc="upper right", ncols=2, fontsize=8)
    mem.legend(loc="upper right", ncols=2, fontsize=8)
    return _svg(fig)


def nas(tl: NasTimeline) -> str:
    """The NAS's NFS and NBD servers over the test phase: MiB/s read and written, and its CPU."""
    fig, (io_ax, cpu) = plt.subplots(2, 1, figsize=(8.4, 3.6), sharex=True, height_ratios=(2, 1))
    io_ax.plot(tl.t_s, tl.nfs_write_mib_s, color=STORE_COLOR["nfs"], linestyle="-", label="NFS written")
    io_ax.plot(tl.t_s, tl.nfs_read_mib_s, color=STORE_COLOR["nfs"], linestyle=":", label="NFS read")
    io_ax.plot(tl.t_s, tl.nbd_write_mib_s, color=STORE_COLOR["nbd"], linestyle="--", label="NBD written")
    io_ax.plot(tl.t_s, tl.nbd_read_mib_s, color=STORE_COLOR["nbd"], linestyle="-.", label="NBD read")
    io_ax.set_ylabel("MiB/s")
    io_ax.legend(loc="upper right", ncols=4, fontsize=8)
    cpu.plot(tl.t_s, tl.cpu_busy_cores, color="#000000", label="NAS CPU busy")
    cpu.set_ylabel("cores")
    cpu.set_xlabel("seconds into the test phase")
    return _svg(fig)


def trend(label: str, nights: Sequence[tuple[int, float, float | None, float | None]], change_at: int | None) -> str:
    """A blade's ratio night by night (the history), each night with its 95% interval as a band, the night a
    change was found from marked."""
    fig, ax = plt.subplots(figsize=(8.4, 2.6))
    xs = [n for n, *_ in nights]
    ax.plot(xs, [v for _, v, _, _ in nights], color="#0072B2", marker="o", markersize=3, label=label)
    banded = [(n, lo, hi) for n, _, lo, hi in nights if lo is not None and hi is not None]
    if banded:
        ax.fill_between([n for n, _, _ in banded], [lo for _, lo, _ in banded], [hi for _, _, hi in banded],
                        color="#0072B2", alpha=0.15, linewidth=0, label="95% interval")  # fmt: skip
    if change_at is not None:
        ax.axvline(change_at, color="#D55E00", linestyle="--", linewidth=1.2, label=f"change from night {change_at}")
    ax.set_xlabel("night")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return _svg(fig)
