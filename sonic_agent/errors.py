"""Errors a user can act on: the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input from the user (config, path, argument): message names what was wrong."""

    exit_code = 2
