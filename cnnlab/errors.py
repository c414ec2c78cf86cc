"""The one exception type that reaches the user as a single line."""


import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CnnlabError(Exception):
    """An error the user caused and can fix; its message is shown as one line (control characters
    from the user's own text, a key with a newline in it, are shown escaped)."""

    def __str__(self) -> str:
        return _CONTROL.sub(lambda m: repr(m.group())[1:-1], super().__str__())


class RemoteError(CnnlabError):
    """Under torchrun: a mistake rank 0 met while deciding for every process (rank 0 says it; the others
    exit with the same status, quietly)."""


class UsageError(CnnlabError):
    """Command-line options that are wrong or do not go together; the message names the option."""


class Interrupted(BaseException):  # like KeyboardInterrupt: `except Exception` lets it pass
    """SIGINT or SIGTERM asked the process to stop; a run it ends is `interrupted`, the exit status
    is 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
