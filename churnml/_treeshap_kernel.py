"""The numba kernel of :mod:`churnml._treeshap` (imported, and compiled, on first use)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _goes_right(x, node, feature, threshold, default_left, is_categorical, cat_start, cat_count,  # noqa: ANN001
                cat_values):  # noqa: ANN001, ANN202
    value = x[feature[node]]
    if np.isnan(value):
        return default_left[node] == 0
    if is_categorical[node]:
        code = int(value)
        for k in range(cat_count[node]):
            if cat_values[cat_start[node] + k] == code:
                return True
        return False
    return not (value < threshold[node])


@numba.njit(parallel=True, cache=True)
def explain_rows(X, n_features, left, right, feature, threshold, default_left, is_categorical,  # noqa: ANN001, ANN201
                 cat_start, cat_count, cat_values, tree_node_start, tree_leaf_start, leaf_value, leaf_path_start,
                 leaf_path_len, leaf_slots, leaf_slot_start, leaf_table_start, path_node, path_right, path_slot,
                 slot_feature, slot_z, table_g, table_z):
    rows = X.shape[0]
    out = np.zeros((rows, n_features))
    trees = tree_node_start.shape[0] - 1
    widest = 1
    for t in range(trees):
        widest = max(widest, tree_node_start[t + 1] - tree_node_start[t])
    # Rows go in blocks, trees outermost within a block: one tree's subset tables stay in the cache
    # while the block's rows read them (row by row over all trees, each read would miss the cache).
    block = 128
    blocks = (rows + block - 1) // block
    for b in numba.prange(blocks):
        low = b * block
        high = min(rows, low + block)
        # decisions are taken on float32 values, as XGBoost does
        xs = X[low:high].astype(np.float32)
        went_right = np.zeros(widest, dtype=np.uint8)
        for t in range(trees):
            first = tree_node_start[t]
            for r in range(high - low):
                x = xs[r]
                phi = out[low + r]
                for node in range(first, tree_node_start[t + 1]):
                    if left[node] >= 0:
                        went_right[node - first] = _goes_right(x, node, feature, threshold, default_left,
                                                               is_categorical, cat_start, cat_count, cat_values)
                for leaf in range(tree_leaf_start[t], tree_leaf_start[t + 1]):
                    d = leaf_slots[leaf]
                    if d == 0:
                        continue
                    off_path = 0
                    start = leaf_path_start[leaf]
                    for p in range(start, start + leaf_path_len[leaf]):
                        if went_right[path_node[p] - first] != path_right[p]:
                            off_path |= 1 << path_slot[p]
                    followed = ((1 << d) - 1) & ~off_path
                    table = leaf_table_start[leaf]
                    scaled = leaf_value[leaf] * table_z[table + followed]
                    outside = scaled * table_g[table + followed]
                    slots = leaf_slot_start[leaf]
                    for k in range(d):
                        f = slot_feature[slots + k]
                        if (followed >> k) & 1:
                            phi[f] += scaled * (1.0 - slot_z[slots + k]) * table_g[table + (followed ^ (1 << k))]
                        else:
                            phi[f] -= outside
    return out
