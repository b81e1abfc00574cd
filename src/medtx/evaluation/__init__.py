"""The evaluation stage: metrics, calibration, the single-label ceiling, scoring, the
evaluation document and the approval gate."""
