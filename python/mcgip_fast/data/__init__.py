"""Embedded real sample data (studyforrest; see data/studyforrest/README.md)."""
