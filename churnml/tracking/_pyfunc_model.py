"""The MLflow face of a churnml model, logged as code (MLflow's "models from code").

MLflow runs this file to rebuild the model; the model itself is the data-only
folder in the ``churn_model`` artifact, opened with :func:`churnml.modeling.load_model`
(hashes checked, nothing unpickled).
"""

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class ChurnPyfunc(PythonModel):
    """``predict`` takes raw feature rows and returns the calibrated churn probability of each."""

    def load_context(self, context: Any) -> None:
        from churnml.modeling import load_model

        self.model = load_model(context.artifacts["churn_model"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.Series:
        return pd.Series(self.model.predict_proba(model_input), index=model_input.index, name="churn_probability")


mlflow.models.set_model(ChurnPyfunc())
