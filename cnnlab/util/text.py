"""Numbers and tables for people: one SI formatter, one byte-size formatter, plurals, durations, one
Markdown table writer and short names for dotted keys, shared by every command that prints them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

SI_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(x: float) -> str:
    """A count with an SI prefix and three significant digits: 416520 → '417k', 61706 → '61.7k',
    950 → '950'. Exact values belong beside it where they matter (`61,706 (61.7k)`)."""
    for factor, prefix in SI_PREFIXES:
        if abs(x) >= factor:
            return f"{x / factor:.3g}{prefix}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.3g}"


def binary_size(n: int) -> str:
    """Bytes in binary units: 32856 → '32.1 KiB'; beyond exbibytes in powers of ten (`3.4e+19 EiB`)."""
    if n >= 2**70:
        return f"{n / 2**60:.2g} EiB"
    for size, unit in ((2**60, "EiB"), (2**50, "PiB"), (2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 run', '2 runs' ('1 class', '3 classes' with `words`)."""
    return f"{n} {word if n == 1 else words or word + 's'}"


def duration(seconds: float) -> str:
    """'42.0s', '3m07s', '2h05m'."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def ago(seconds: float) -> str:
    """A coarse age: '42s', '5m', '3h', '2d'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(int(seconds), 0)}s"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                   right: Sequence[bool] | None = None) -> str:
    """A GitHub-flavoured pipe table; `right[i]` right-aligns column i. Pipes inside cells are escaped."""

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |\n"

    aligns = right or [False] * len(headers)
    rule = "|" + "|".join("---:" if r else "---" for r in aligns) + "|\n"
    return line(headers) + rule + "".join(line(row) for row in rows)


def short_repr(value: object, limit: int = 60) -> str:
    """repr(value) cut to `limit` characters: a message names the value without printing a whole
    document (a list of thousands, or what an alias expanded to)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 1]}…"


def key_labels(keys: Iterable[str]) -> dict[str, str]:
    """Each dotted key → its shortest tail that no other of `keys` ends with: model.activation →
    activation, model.conv[0].stride → stride (conv[0].stride beside model.conv[1].stride),
    len(model.conv) → len(conv)."""
    keys = list(keys)
    inner = {key: key[4:-1] if key.startswith("len(") and key.endswith(")") else key for key in keys}
    out = {}
    for key in keys:
        parts = inner[key].split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(other != key and (inner[other] == tail or inner[other].endswith("." + tail))
                       and (other == inner[other]) == (key == inner[key]) for other in keys):
                break
        out[key] = tail if key == inner[key] else f"len({tail})"
    return out
