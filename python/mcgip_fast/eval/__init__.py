"""mcgip_fast.eval: probes (linear, weighted kNN, fine-tuning) and metrics for a trained encoder.

    from mcgip_fast.eval import evaluate_encoder, summarise
    df = evaluate_encoder("runs/train/encoder.pt", "images.csv", budgets=(0.01, 0.1, 1.0))
    print(summarise(df))
"""

from mcgip_fast.eval.evaluate import (
    METRICS,
    PROBES,
    evaluate_encoder,
    extract_features,
    format_summary,
    label_budget_indices,
    load_encoder,
    split_indices,
    summarise,
)

__all__ = ["evaluate_encoder", "summarise", "format_summary", "extract_features", "load_encoder",
           "label_budget_indices", "split_indices", "PROBES", "METRICS"]
