"""Evaluation: when a run is scored (EvaluationSchedule), by what (the evaluators: feature scores, polygons,
mixtures), what a run is judged by (its objective) and the sample grids. The metrics' math is lightning_gans.metrics."""
