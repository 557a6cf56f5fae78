"""`xlrmrr dmar`: not implemented yet."""

HELP = "(not implemented yet)"
DESCRIPTION = HELP


def add_arguments(p):
    pass


def run(args) -> int:
    from xlrmrr.common import InputError
    raise InputError("this command is not implemented yet")
