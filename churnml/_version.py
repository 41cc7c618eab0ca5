"""The version of churnml, in one place: the package, its model files and its MLflow runs read it here."""

__version__ = "0.1.0"
