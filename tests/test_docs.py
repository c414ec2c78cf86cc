"""The README and the manual in docs/ hold together: every relative link names a file that exists
(relative to the page that links it) and, with a #fragment, a heading of that file, by GitHub's
anchor rule; the README and the manual's index link every page of docs/; the README's set-up is two
commands, the second the one CI runs. Reads text only."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # http:, https:, mailto: ...


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks: a `# comment` in a bash block is no heading,
    and `[0](x)` in a YAML block is no link."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        opened = FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
        elif opened:
            fence = opened.group(1)
        else:
            lines.append((number, line))
    return lines


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: its text (link targets and markup dropped) in lowercase,
    every character other than a letter, digit, space, `-` or `_` dropped, spaces → `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) → text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a markdown file's headings; a repeated heading gets -1, -2 ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        slug = anchor(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every markdown link and image in a file's prose, code spans left out."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            found.append((number, match.group(1)))
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """One line per relative link of `path` that does not resolve, saying where it is and why."""

    def shown(file: Path) -> str:
        return str(file.relative_to(root)) if file.is_relative_to(root) else str(file)

    problems = []
    for number, target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / unquote(file_part)).resolve() if file_part else path.resolve()
        where = f"{shown(path)}:{number}: ({target})"
        if not linked.exists():
            problems.append(f"{where}: no file {shown(linked)}")
        elif fragment:
            if linked.is_dir() or linked.suffix != ".md":
                problems.append(f"{where}: #{fragment} points into {shown(linked)}, which is not a markdown file")
            elif unquote(fragment).lower() not in anchors(linked):
                known = ", ".join(sorted(anchors(linked)))
                problems.append(f"{where}: {shown(linked)} has no heading #{fragment} (it has: {known})")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    problems = broken_links(page)
    assert not problems, "broken links:\n" + "\n".join(problems)


@pytest.mark.parametrize("index", ["README.md", "docs/README.md"])
def test_every_docs_page_is_linked_from_the_readme_and_the_index(index):
    page = ROOT / index
    linked = {(page.parent / t.partition("#")[0]).resolve() for _, t in links(page) if not EXTERNAL.match(t)}
    pages = [p for p in PAGES[1:] if p.resolve() != page.resolve()]
    missing = [str(p.relative_to(ROOT)) for p in pages if p.resolve() not in linked]
    assert not missing, f"{index} links no page {', '.join(missing)}"


def test_anchors_follow_githubs_rule():
    assert anchor("Set-up: two commands") == "set-up-two-commands"
    assert anchor("Skipping runs: `--force` and `--fail-fast`") == "skipping-runs---force-and---fail-fast"
    assert anchor("The status in meta.json is true") == "the-status-in-metajson-is-true"
    assert anchor("Shapes, receptive fields — instantly") == "shapes-receptive-fields--instantly"
    assert anchor("LeNet-5, classic and modern") == "lenet-5-classic-and-modern"
    assert anchor("input_norm") == "input_norm"
    assert anchor("Why a run learns: [`cnnlab inspect`](inspect.md)") == "why-a-run-learns-cnnlab-inspect"


def test_a_broken_link_is_named_with_its_line_and_reason(tmp_path):
    """The checker itself fails on what it should: a missing file, a missing heading, a fragment
    into a file that has no headings; it leaves code, code spans and external links alone."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Its part\n\n```bash\n# not a heading\n```\n")
    (tmp_path / "data.csv").write_text("x\n")
    page = tmp_path.resolve() / "README.md"
    page.write_text("ok [a](docs/a.md#its-part) [top](#title) [web](https://example.org/x#y) [m](mailto:a@b)\n"
                    "# Title\n"
                    "`[not](a-link.md)`\n"
                    "```yaml\n[x](nowhere.md)\n```\n"
                    "[gone](docs/b.md) [no part](docs/a.md#not-a-heading) [csv](data.csv#row)\n")
    problems = broken_links(page, root=tmp_path.resolve())
    assert len(problems) == 3, problems
    assert problems[0] == "README.md:7: (docs/b.md): no file docs/b.md"
    assert problems[1].startswith("README.md:7: (docs/a.md#not-a-heading): docs/a.md has no heading #not-a-heading")
    assert "its-part" in problems[1] and "not-a-heading" not in problems[1].split("(it has:")[1]
    assert problems[2].startswith("README.md:7: (data.csv#row): #row points into data.csv")


def setup_commands() -> list[str]:
    """The bash blocks of the README's set-up section, each one line."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Set-up: two commands\n", 1)[1]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)]


def test_the_set_up_is_two_commands_and_ci_runs_the_second_verbatim():
    """The first installs what training needs (no test tools, SciPy or Ray: 0.7 GiB less), the
    second adds [dev] and runs the tests, and CI runs exactly that second line."""
    train, tests = setup_commands()
    assert "\n" not in train + tests
    assert train == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/cnnlab train " \
                    "experiments/quickstart.yaml"
    assert tests == "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/python -m pytest"
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
