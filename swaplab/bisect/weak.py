"""A step's verdict on a noisy ratio: good, bad, or not yet sure (spend more pairs), then skip.

A bisection on a throughput ratio cannot call a commit from one pair of trials: the NFS/NBD ratio of one
pair on the virtual lab ranges over a factor of 4. The step's pairs are pooled (from its runs, and from
every blade that tested it) into the geometric-mean ratio with its 95% interval; the commit is bad when
the whole interval is over the gate, good when the whole interval is at or under it, and otherwise the
step takes more pairs, up to its budget, after which it is skipped as ``git bisect skip`` would: a commit
that cannot be settled is never called bad. Pure: no process, no lab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from swaplab.stats import paired_ratio

Call = Literal["good", "bad", "more", "skip"]
MIN_PAIRS = 2  # one pair has no interval


@dataclass(frozen=True)
class RatioCall:
    call: Call
    ratio: float | None
    low: float | None
    high: float | None
    pairs: int
    words: str


def decide(nfs: list[float], nbd: list[float], gate: float, max_pairs: int) -> RatioCall:
    """The call on a step's pooled pairs (``nfs[i]`` with ``nbd[i]``) against ``gate`` (bad: over it)."""
    pairs = min(len(nfs), len(nbd))
    if pairs == 0:
        return RatioCall("more" if max_pairs > 0 else "skip", None, None, None, 0, "no complete pair yet")
    r = paired_ratio(nfs, nbd)
    if r.low is None or r.high is None:
        call: Call = "more" if pairs < max_pairs else "skip"
        return RatioCall(call, r.ratio, None, None, pairs, f"ratio {r.ratio:.2f} from one pair: no interval yet")
    ci = f"ratio {r.ratio:.2f} (95% CI {r.low:.2f}-{r.high:.2f}, {pairs} pairs)"
    if pairs >= MIN_PAIRS and r.low > gate:
        return RatioCall("bad", r.ratio, r.low, r.high, pairs, f"{ci}: over the gate {gate:g}")
    if pairs >= MIN_PAIRS and r.high <= gate:
        return RatioCall("good", r.ratio, r.low, r.high, pairs, f"{ci}: within the gate {gate:g}")
    if pairs < max_pairs:
        return RatioCall("more", r.ratio, r.low, r.high, pairs, f"{ci}: straddles the gate {gate:g}")
    return RatioCall("skip", r.ratio, r.low, r.high, pairs,
                     f"{ci}: still straddles the gate {gate:g} after {pairs} pairs (the budget): not sure")  # fmt: skip
