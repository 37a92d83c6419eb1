"""Data: read, validate, split and budget labeled text."""
from .examples import Reject, TextExample
from .prepare import DataBundle, prepare_data
from .readers import read_examples

__all__ = ["DataBundle", "Reject", "TextExample", "prepare_data", "read_examples"]
