"""UserError: bad input the user can fix. cli.main prints it as one line, never a traceback."""


class UserError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""
