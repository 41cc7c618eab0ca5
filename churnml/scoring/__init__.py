"""Scoring: every eligible account's probability, tier, rank, revenue at risk and reasons, and what it
should achieve and did.

- ``_scoring``: :func:`score` and :func:`write_scores` (chunked, bounded memory, atomic output) over the
  engine-free chunk scorer :func:`score_chunk`, which the Spark engine runs in ``mapInPandas``;
- ``_estimation``: what a run should achieve from its calibrated probabilities alone;
- ``_evaluation``: :func:`evaluate`, a past run labelled by what happened next.
"""

from churnml.scoring._estimation import ASSUMPTION
from churnml.scoring._evaluation import EvaluationResult, evaluate
from churnml.scoring._scoring import (Reasons, ScoringResult, TIERS, check_inputs, check_memory_limit, check_missing,
                                      has_revenue, parse_day, score, score_chunk, scored_columns, scores_definition,
                                      tier_thresholds, write_scores)

__all__ = ["ASSUMPTION", "EvaluationResult", "Reasons", "ScoringResult", "TIERS", "check_inputs", "check_memory_limit",
           "check_missing", "evaluate", "has_revenue", "parse_day", "score", "score_chunk", "scored_columns",
           "scores_definition", "tier_thresholds", "write_scores"]
