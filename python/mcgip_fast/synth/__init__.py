"""Synthetic radiology archive: images with findings plus simulated reader gaze.

`generate(root, SynthConfig(...))` writes images, a manifest, a fixation table and a separate
label file in the layout of a real dataset; `SynthArchive.open(root)` reads one back. Gaze is
informative about the class to a degree set by `SynthConfig.informativeness` (0: not at all).
`generate_chest(root, ChestConfig(...))` writes a second, differently built archive in the same
layout (chest-like images, readers with personal habits, a class signal in gaze geometry).
"""

from mcgip_fast.synth.archive import LAYOUT_VERSION, SynthArchive, SynthConfig, balanced_labels, generate
from mcgip_fast.synth.chest import CHEST_CLASS_NAMES, ChestConfig, generate_chest
from mcgip_fast.synth.images import CLASS_NAMES

#: Archive generators by name: (config class, generate function); both take n_images, size,
#: informativeness and seed, and write the same layout.
GENERATORS = {"mammo": (SynthConfig, generate), "chest": (ChestConfig, generate_chest)}

__all__ = ["CHEST_CLASS_NAMES", "CLASS_NAMES", "GENERATORS", "LAYOUT_VERSION", "ChestConfig", "SynthArchive", "SynthConfig",
           "balanced_labels", "generate", "generate_chest"]
