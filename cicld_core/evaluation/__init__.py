"""Scoring a model against labels: ``evaluate_model`` over a dataset split (used by the evaluate
command, the trainer and the benchmarks), the per-class table, and ``python -m cicld_core.evaluation``
(also ``python -m cicld_core.evaluate``). Images are normalised by ``cicld_core.model.segment_rgb``, the
same as predict, replay evaluation and the node."""
from .scoring import check_dataset, eval_transform, evaluate_model, segment_at_size
from .table import format_table

__all__ = ["check_dataset", "eval_transform", "evaluate_model", "format_table", "segment_at_size"]
