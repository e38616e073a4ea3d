"""The two ways loading a dataset can fail, kept apart because they call for different fixes."""


class DatasetNotFoundError(FileNotFoundError):
    """No candidate location holds the dataset; the message says where we looked and how to get it."""


class DatasetFileError(ValueError):
    """A dataset file exists but cannot be read (truncated, corrupt, wrong format); the message names it."""
