"""An engine's output typed as the model expects it, the same whichever engine computed it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from churnml.features import FeatureSpec


def typed(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Feature columns as the model expects them: float64, or categorical on the fitted levels."""
    import pandas as pd

    from churnml.engines import _lifetime

    frame["observation_date"] = pd.to_datetime(frame["observation_date"]).astype("datetime64[us]")
    frame = _lifetime.fill_bgnbd(frame, spec)
    levels = spec.categorical_levels()
    for info in spec.features():
        if info.name in levels:
            frame[info.name] = pd.Categorical(frame[info.name].astype("object"), categories=levels[info.name])
        else:
            frame[info.name] = frame[info.name].astype("float64")
    return frame


def typed_columns(batch: pa.RecordBatch, spec: FeatureSpec, names: list[str]) -> dict[str, Any]:
    """The columns ``names`` of one Arrow batch of an engine's features as :func:`typed` makes them, without a
    DataFrame: numbers as float64 arrays, categories as pandas Categoricals on the fitted levels,
    the BG/NBD features filled from their helper columns. A name the batch lacks is left out."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    from churnml.engines import _lifetime

    filled: dict[str, Any] = {}
    helpers = _lifetime.helper_columns()
    if spec.bgnbd_horizon_days is not None and helpers[0] in batch.schema.names:
        frame = _lifetime.fill_bgnbd(pa.Table.from_batches([batch.select(helpers)]).to_pandas(), spec)
        filled = {name: frame[name].to_numpy(dtype="float64") for name in frame.columns}
    levels = spec.categorical_levels()
    out: dict[str, Any] = {}
    for name in names:
        if name in filled:
            out[name] = filled[name]
        elif name not in batch.schema.names:
            continue
        elif name in levels and (pa.types.is_string(batch.column(name).type)
                                 or pa.types.is_large_string(batch.column(name).type)):
            codes = pc.index_in(batch.column(name), value_set=pa.array(levels[name], batch.column(name).type))
            out[name] = pd.Categorical.from_codes(pc.fill_null(codes, -1).to_numpy(), categories=levels[name])
        elif name in levels:  # not text: compared as objects, as typed() does
            out[name] = pd.Categorical(batch.column(name).to_pandas().astype("object"), categories=levels[name])
        elif pa.types.is_floating(batch.column(name).type) or pa.types.is_integer(batch.column(name).type):
            out[name] = np.asarray(batch.column(name).to_numpy(zero_copy_only=False), dtype="float64")
        else:  # booleans, decimals: as pandas converts them
            out[name] = batch.column(name).to_pandas().astype("float64").to_numpy()
    return out
