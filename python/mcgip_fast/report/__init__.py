"""mcgip_fast.report (see DESIGN)."""
