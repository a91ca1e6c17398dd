"""mcgip_fast.mining (see DESIGN)."""
