"""Mining: gaze similarities become a sparse `PositivePairs` graph."""

from mcgip_fast.mining.pairs import PairsMismatchError, PositivePairs

__all__ = ["PairsMismatchError", "PositivePairs"]
