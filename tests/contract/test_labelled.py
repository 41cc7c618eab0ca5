import pandas as pd
import pytest

from churnml.contract._labelled import LabelledTableSource
from churnml.errors import DuplicateRowsError, LabelError, MissingColumnError


def test_label_spellings_become_0_1():
    for values, expected in [(["Yes", "No"], [1, 0]), ([True, False], [1, 0]), ([1, 0], [1, 0]),
                             (["churned", "retained"], [1, 0])]:
        table = LabelledTableSource(pd.DataFrame({"x": [1, 2], "y": values}), label="y").load()
        assert table.y.tolist() == expected


def test_unknown_label_values_need_positive():
    data = pd.DataFrame({"x": [1, 2, 3], "status": ["gone", "here", "here"]})
    with pytest.raises(LabelError, match=r"cannot read as churned / retained: \['gone', 'here'\]"):
        LabelledTableSource(data, label="status").load()
    assert LabelledTableSource(data, label="status", positive="gone").load().y.tolist() == [1, 0, 0]


def test_missing_labels_and_columns():
    with pytest.raises(LabelError, match=r"missing in 1 rows"):
        LabelledTableSource(pd.DataFrame({"x": [1, 2], "y": ["Yes", None]}), label="y").load()
    with pytest.raises(MissingColumnError, match=r"no column 'Churn'"):
        LabelledTableSource(pd.DataFrame({"x": [1], "churn": [1]}), label="Churn").load()


def test_text_columns_that_are_not_numbers_stay_text():
    data = pd.DataFrame({"plan": ["a", "b"], "charges": ["1", "x"], "y": [0, 1]})
    table = LabelledTableSource(data, label="y").load()
    assert table.X["plan"].tolist() == ["a", "b"] and table.X["charges"].tolist() == ["1", "x"]


def test_duplicate_policy_error():
    data = pd.DataFrame({"x": [1, 1], "y": [0, 0]})
    with pytest.raises(DuplicateRowsError, match=r"1 exact duplicate rows"):
        LabelledTableSource(data, label="y", duplicates="error").load()


def test_dropping_duplicates_keeps_the_first_of_each_in_file_order(tmp_path):
    # the random split is by position: a dropped duplicate must not reorder the table between runs
    import numpy as np

    rng = np.random.default_rng(0)
    values = rng.integers(0, 2_000, size=20_000)
    path = tmp_path / "table.csv"
    pd.DataFrame({"x": values, "Churn": values % 2}).to_csv(path, index=False)
    table = LabelledTableSource(path, label="Churn", duplicates="drop").load()
    first = pd.Series(values).drop_duplicates().to_numpy()
    assert table.X["x"].to_numpy().tolist() == first.tolist()
    assert table.report.rows_loaded == len(first) and table.report.duplicate_rows == len(values) - len(first)
