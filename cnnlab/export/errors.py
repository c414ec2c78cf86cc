"""What an export can meet that the user can fix, as one line: a destination that cannot be written
(a missing folder, no permission, a full disk), a tracking store that refuses or cannot be reached,
a graph that does not compute what the run's model does."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from cnnlab.errors import CnnlabError
from cnnlab.util.files import written_file


class ExportError(CnnlabError):
    """An export that cannot be done as asked; the message names the option or file to fix."""


@contextlib.contextmanager
def writing(what: str) -> Iterator[None]:
    """Inside, an OSError is the ExportError `WHAT: cannot write (No such file or directory: FILE)`;
    `what` names the destination as the user gave it (`--out tb`)."""
    try:
        yield
    except OSError as err:
        where = f": {written_file(err.filename)}" if err.filename else ""
        raise ExportError(f"{what}: cannot write ({err.strerror or err}{where})") from None
