"""The base of every error a user can act on (bad params or data, a missing model, too many failed LLM items).

A stage ends such an error with one line on stderr and exit status 1 (see :func:`syneg.cli.run`); anything
else is a bug and keeps its traceback. Each module defines its own subclass, so this module imports nothing
and a stage does not depend on modules it never runs.
"""


class UserError(Exception):
    """An error whose message names the file, line, key or id, and the fix."""
