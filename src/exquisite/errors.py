"""The one exception a user sees: bad input, named and with what to do about it."""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: a file, a configuration key or a field.

    The command line prints ``str(error)`` and exits with status 2, without a traceback.

    Parameters
    ----------
    where
        What is wrong, as the user knows it: a file path, ``file.yml: key``, or a field name.
    problem
        What is wrong with it, in one sentence.
    hint
        What the user can do about it.
    """

    def __init__(self, where: str, problem: str, hint: str = "") -> None:
        self.where = str(where)
        self.problem = problem
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The whole message, ``where: problem. hint``."""
        text = f"{self.where}: {self.problem.rstrip('.')}."
        return f"{text} {self.hint}" if self.hint else text
