"""The one exception type that reaches the user as a single line."""


class CnnlabError(Exception):
    """An error the user caused and can fix; its message is shown as one line."""
