"""Synthetic radiology archive: images with findings plus simulated reader gaze.

`generate(root, SynthConfig(...))` writes images, a manifest, a fixation table and a separate
label file in the layout of a real dataset; `SynthArchive.open(root)` reads one back. Gaze is
informative about the class to a degree set by `SynthConfig.informativeness` (0: not at all).
"""

from mcgip_fast.synth.archive import LAYOUT_VERSION, SynthArchive, SynthConfig, balanced_labels, generate
from mcgip_fast.synth.images import CLASS_NAMES

__all__ = ["CLASS_NAMES", "LAYOUT_VERSION", "SynthArchive", "SynthConfig", "balanced_labels", "generate"]
