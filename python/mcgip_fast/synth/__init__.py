"""mcgip_fast.synth (see DESIGN)."""
