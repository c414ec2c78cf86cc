"""The one exception type that reaches the user as a single line."""


class CnnlabError(Exception):
    """An error the user caused and can fix; its message is shown as one line."""


class UsageError(CnnlabError):
    """Command-line options that are wrong or do not go together; the message names the option."""
