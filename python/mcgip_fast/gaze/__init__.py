"""Gaze in: scanpaths, archives, readers, validation and heatmaps."""

from mcgip_fast.gaze.archive import GazeArchive, GazeValidationError, Scanpath, ValidationReport

__all__ = ["GazeArchive", "GazeValidationError", "Scanpath", "ValidationReport"]
