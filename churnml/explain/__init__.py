"""Explanations: why each account is at risk, as exact TreeSHAP values and as sentences.

- ``_explainer``: :class:`ChurnExplainer` (top drivers per account in words, global SHAP views);
- ``_treeshap`` and ``_treeshap_kernel``: churnml's exact CPU TreeSHAP (Fast TreeSHAP v2, numba),
  several times faster than XGBoost's ``pred_contribs``.
"""

from churnml.explain._explainer import ChurnExplainer

__all__ = ["ChurnExplainer"]
