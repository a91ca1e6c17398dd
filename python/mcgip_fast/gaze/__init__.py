"""Gaze in: scanpaths, archives, readers, validation and heatmaps."""

from mcgip_fast.gaze.archive import GazeArchive, GazeValidationError, Scanpath, ValidationReport
from mcgip_fast.gaze.heatmaps import gaussian_kernel, mcgip_heatmaps, render_heatmaps
from mcgip_fast.gaze.images import load_heatmap_images, save_heatmap_images
from mcgip_fast.gaze.readers import fixations_from_samples, read_fixation_files, read_remodnav, read_table
from mcgip_fast.gaze.formats import read_egd_cxr, read_reflacx

__all__ = [
    "GazeArchive",
    "GazeValidationError",
    "Scanpath",
    "ValidationReport",
    "fixations_from_samples",
    "gaussian_kernel",
    "load_heatmap_images",
    "mcgip_heatmaps",
    "read_egd_cxr",
    "read_fixation_files",
    "read_reflacx",
    "read_remodnav",
    "read_table",
    "render_heatmaps",
    "save_heatmap_images",
]
