"""Errors that carry a message meant for the person using the app."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base for errors whose message is shown to the user as one line."""


class UserError(WorkbenchError):
    """Bad input data or settings: the user can fix it. The message names the file/column/param and what to do."""


class RunCancelled(WorkbenchError):
    """Raised inside a node when the run's cancel token is set; the node ends as 'stopped'."""


class PipelineFileError(WorkbenchError):
    """A pipeline file that cannot be read; the message names the file and the field or line."""
