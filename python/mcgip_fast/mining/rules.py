"""Selection rules: which scored pairs become positives.

Every rule works on similarities (higher = more similar) and excludes self-pairs.

- `Threshold(theta)`: pairs with ``score > theta`` (strict, as in McGIP's ``sim > θ``).
- `TopK(k)`: each item's k best partners; the graph is the union, so (i, j) is positive if j is
  in i's top-k *or* i is in j's (degrees can exceed k).
- `MutualTopK(k)`: (i, j) is positive only if each is in the other's top-k (degrees at most k).
- `Percentile(q)`: a threshold at the q-th percentile of the score distribution, estimated from a
  deterministic random sample of pairs (``seed``), never from a dense matrix; then as `Threshold`.

Ties in top-k are broken by the smaller partner index, so results never depend on order.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Union

from ..gaze.hints import option

RULES = ("threshold", "topk", "mutual", "percentile")


@dataclass(frozen=True)
class Threshold:
    theta: float
    name: str = "threshold"

    def validate(self, low: float, high: float, scheme: str) -> None:
        if not isinstance(self.theta, (int, float)) or math.isnan(self.theta):
            raise ValueError(f"threshold must be a number, got {self.theta!r}")
        if not (low <= self.theta < high):
            raise ValueError(
                f"threshold {self.theta} is outside the range of the {scheme} score [{low:g}, {high:g}): "
                f"no pair could score above it (or every pair would)"
            )


@dataclass(frozen=True)
class TopK:
    k: int
    name: str = "topk"

    def validate(self, low: float, high: float, scheme: str) -> None:
        _check_k(self.k)


@dataclass(frozen=True)
class MutualTopK:
    k: int
    name: str = "mutual"

    def validate(self, low: float, high: float, scheme: str) -> None:
        _check_k(self.k)


@dataclass(frozen=True)
class Percentile:
    """Threshold at the q-th percentile (0 < q < 100) of `sample_size` random pairs' scores."""

    q: float
    sample_size: int = 100_000
    seed: int = 0
    name: str = "percentile"

    def validate(self, low: float, high: float, scheme: str) -> None:
        if not isinstance(self.q, (int, float)) or not (0 < self.q < 100):
            raise ValueError(f"percentile must be strictly between 0 and 100, got {self.q!r}")
        if not isinstance(self.sample_size, int) or self.sample_size < 1:
            raise ValueError(f"sample_size must be a positive integer, got {self.sample_size!r}")


Rule = Union[Threshold, TopK, MutualTopK, Percentile]


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def make_rule(
    rule: str | Rule,
    *,
    k: int | None = None,
    threshold: float | None = None,
    percentile: float | None = None,
    sample_size: int = 100_000,
    seed: int = 0,
) -> Rule:
    """Build a rule from its name and options (the API's and the CLI's spelling)."""
    if not isinstance(rule, str):
        return rule
    if rule == "threshold":
        if threshold is None:
            raise ValueError(f"rule 'threshold' needs a threshold (sim > threshold): pass {option('threshold')}")
        return Threshold(float(threshold))
    if rule in ("topk", "mutual"):
        if k is None:
            raise ValueError(f"rule {rule!r} needs k: pass {option('k')}")
        _check_k(k)
        return TopK(k) if rule == "topk" else MutualTopK(k)
    if rule == "percentile":
        if percentile is None:
            raise ValueError(f"rule 'percentile' needs a percentile (0 < q < 100): pass {option('percentile')}")
        return Percentile(float(percentile), int(sample_size), int(seed))
    raise ValueError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")


def rule_params(rule: Rule) -> dict[str, Any]:
    return asdict(rule)
