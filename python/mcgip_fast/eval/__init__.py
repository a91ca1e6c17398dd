"""mcgip_fast.eval (see DESIGN)."""
