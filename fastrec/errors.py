"""Exceptions that several layers of fastrec raise."""


class NotFittedError(RuntimeError):
    """A model was asked to predict, recommend or be saved before ``fit``."""
