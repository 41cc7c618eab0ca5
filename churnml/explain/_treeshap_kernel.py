"""The numba kernel of :mod:`churnml.explain._treeshap` (imported, and compiled, on first use)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _category_goes_right(value, node, default_left, cat_start, cat_count, cat_values):  # noqa: ANN001, ANN202
    """A categorical split: right when the code is in the node's set; missing takes the default side."""
    if np.isnan(value):
        return default_left[node] == 0
    code = int(value)
    for k in range(cat_count[node]):
        if cat_values[cat_start[node] + k] == code:
            return True
    return False


@numba.njit(parallel=True, cache=True)
def explain_rows(X, n_features, left, feature, threshold, default_left, is_categorical,  # noqa: ANN001, ANN201
                 cat_start, cat_count, cat_values, tree_node_start, tree_leaf_start, node_order, node_parent,
                 edge_right, edge_slot, leaf_node, leaf_value, leaf_slots, leaf_slot_start, leaf_table_start,
                 slot_feature, slot_z, table_g, table_z):
    rows = X.shape[0]
    out = np.zeros((rows, n_features))
    trees = tree_node_start.shape[0] - 1
    widest = 1
    for t in range(trees):
        widest = max(widest, tree_node_start[t + 1] - tree_node_start[t])
    # Rows go in blocks, trees outermost within a block, and each step of a tree runs over the block's
    # rows in its innermost loop: one tree's subset tables stay in the cache while the rows read them,
    # and a node's or a leaf's constants are loaded once per block instead of once per row. For each
    # row and feature the contributions are added in the same order as row by row (tree, leaf, slot).
    block = 512
    blocks = (rows + block - 1) // block
    for b in numba.prange(blocks):
        low = b * block
        high = min(rows, low + block)
        nb = high - low
        # decisions are taken on float32 values, as XGBoost does; xt holds the block feature by feature
        xt = np.ascontiguousarray(X[low:high].astype(np.float32).T)
        phi = out[low:high]
        went_right = np.zeros((widest, block), dtype=np.uint8)
        # per node and row: the slots (of the path from the root) whose splits the row does not follow
        off = np.zeros((widest, block), dtype=np.int64)
        followed = np.zeros(block, dtype=np.int64)
        scaled = np.zeros(block)
        outside = np.zeros(block)
        for t in range(trees):
            first = tree_node_start[t]
            last = tree_node_start[t + 1]
            for node in range(first, last):
                if left[node] < 0:
                    continue
                goes = went_right[node - first]
                column = xt[feature[node]]
                if is_categorical[node]:
                    for r in range(nb):
                        goes[r] = _category_goes_right(column[r], node, default_left, cat_start, cat_count,
                                                       cat_values)
                else:  # numbers go left below the threshold; missing takes the default side
                    split = threshold[node]
                    missing_right = default_left[node] == 0
                    for r in range(nb):
                        value = column[r]
                        goes[r] = missing_right if np.isnan(value) else not (value < split)
            # parents before children (node_order; the root first): a node's off-path slots are its
            # parent's, and the parent's split where the row went the other way
            off[0, :nb] = 0
            for i in range(first + 1, last):
                node = node_order[i]
                parent = node_parent[node] - first
                side = edge_right[node]
                shift = edge_slot[node]
                mine, theirs, turned = off[node - first], off[parent], went_right[parent]
                for r in range(nb):
                    mine[r] = theirs[r] | (np.int64(turned[r] != side) << shift)
            for leaf in range(tree_leaf_start[t], tree_leaf_start[t + 1]):
                d = leaf_slots[leaf]
                if d == 0:
                    continue
                full = (1 << d) - 1
                away = off[leaf_node[leaf] - first]
                table = leaf_table_start[leaf]
                value = leaf_value[leaf]
                for r in range(nb):
                    kept = full & ~away[r]
                    followed[r] = kept
                    scaled[r] = value * table_z[table + kept]
                    outside[r] = scaled[r] * table_g[table + kept]
                slots = leaf_slot_start[leaf]
                for k in range(d):
                    f = slot_feature[slots + k]
                    share = 1.0 - slot_z[slots + k]
                    bit = 1 << k
                    for r in range(nb):
                        # both sides computed, one kept: no branch on the row's path
                        inside = scaled[r] * share * table_g[table + (followed[r] ^ bit)]
                        phi[r, f] += inside if followed[r] & bit else -outside[r]
    return out
