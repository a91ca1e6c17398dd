"""mcgip_fast.train (see DESIGN)."""
