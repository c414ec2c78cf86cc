"""The one exception type that reaches the user as a single line."""


class CnnlabError(Exception):
    """An error the user caused and can fix; its message is shown as one line."""


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
