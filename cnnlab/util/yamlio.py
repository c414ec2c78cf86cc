"""YAML in and out: safe loading of plain data only, within bounds, and output that people read (key
order kept, short lists of numbers on one line).

Loading is the edge where any text comes in (specs, `--set` values, run files written by anyone), so
every problem is one YamlError (a yaml.YAMLError) with a one-line message and the line it concerns:
syntax, a tag that is not plain data (`!!python/...`, `!!set`, `!!binary`), a string that escapes a
lone surrogate (`"\\uDCFF"`: no text, as no file's bytes decode to it), an integer that is not
one or does not fit in 64 bits, nesting deeper than MAX_DEPTH, more than MAX_VALUES values (counted
from the parser's events, before any node is built), or aliases that expand to more than MAX_VALUES
values (a "billion laughs" document is refused from its node graph, before anything is built, and
never printed). Dates stay the text they were written as: a spec has no date keys, and
`seed: 2024-13-45` should be reported as the wrong type of seed, not as an impossible month.
"""

from __future__ import annotations

from typing import Any

import yaml

# libyaml's parser where PyYAML was built with it: the same safe subset, ~9× faster (0.8 vs 7 ms a spec).
_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_VALUES = 100_000  # values in a document once its aliases are expanded
MAX_DEPTH = 64  # nested mappings and lists
MARKS_CHARS = 64 << 10  # texts up to this long are parsed again in pure Python for exact error marks
INT_RANGE = (-(2**63), 2**63)  # integers cnnlab accepts: what fits in 64 bits

TAG = "tag:yaml.org,2002:"


class YamlError(yaml.YAMLError):
    """Text that is not plain YAML data within cnnlab's bounds; one line, without the document."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        self.problem = problem
        self.line = mark.line + 1 if mark is not None else None
        self.column = mark.column + 1 if mark is not None else None
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.problem} (line {self.line})" if self.line else self.problem


def _plain_constructors(base: type) -> type:
    """`base` (a safe loader) with the constructors of plain data only."""

    class Loader(base):  # type: ignore[misc, valid-type]
        pass

    def as_text(loader, node):
        return loader.construct_scalar(node)

    def text(loader, node):  # a double-quoted "\uDCFF" is a lone surrogate: no text a file or terminal takes
        value = loader.construct_scalar(node)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise YamlError(f"a string escapes U+{ord(value[err.start]):04X}, a lone surrogate, which is no text",
                            node.start_mark) from None
        return value

    def integer(loader, node):
        text = loader.construct_scalar(node)
        digits = len(text.lstrip("+-").replace("_", ""))
        if digits > 40:  # before int(): Python refuses to convert more than 4,300 digits, slowly
            raise YamlError(f"a {digits}-digit integer is too large; cnnlab's integers fit in 64 bits",
                            node.start_mark)
        try:
            value = yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
        except ValueError:
            raise YamlError(f"{text!r} is not an integer", node.start_mark) from None
        if not INT_RANGE[0] <= value < INT_RANGE[1]:
            raise YamlError(f"{value} is too large; cnnlab's integers fit in 64 bits", node.start_mark)
        return value

    def floating(loader, node):
        try:
            return yaml.constructor.SafeConstructor.construct_yaml_float(loader, node)
        except ValueError:
            raise YamlError(f"{loader.construct_scalar(node)[:24]!r} is not a number", node.start_mark) from None

    def unsupported(loader, node):
        tag = node.tag.replace(TAG, "!!")
        raise YamlError(f"unsupported YAML tag {tag}; only plain data (mappings, lists, strings, numbers, "
                        f"booleans, null) is allowed", node.start_mark)

    Loader.add_constructor(TAG + "timestamp", as_text)
    Loader.add_constructor(TAG + "str", text)
    Loader.add_constructor(TAG + "int", integer)
    Loader.add_constructor(TAG + "float", floating)
    for tag in ("set", "binary", "omap", "pairs"):
        Loader.add_constructor(TAG + tag, unsupported)
    Loader.add_constructor(None, unsupported)  # any other tag
    return Loader


_LOADER = _plain_constructors(_FAST)
_MARKS_LOADER = _plain_constructors(yaml.SafeLoader)  # the pure-Python parser: marks at the problem


def scan_bounds(text: str, loader_class: type = _FAST) -> bool:
    """Refuse a document that holds more than MAX_VALUES values or nests deeper than MAX_DEPTH levels,
    counted from its parser's events before any node is built (a long plain list costs a tenth of
    what building it would); whether it uses aliases, whose expansion check_bounds then measures."""
    loader = loader_class(text)
    values = level = 0
    aliased = False
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                level -= 1
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            values += 1
            aliased = aliased or isinstance(event, yaml.AliasEvent)
            if values > MAX_VALUES:
                raise YamlError(f"the document holds more than {MAX_VALUES:,} values; a spec holds a few hundred",
                                event.start_mark)
            if level + 1 > MAX_DEPTH:
                raise YamlError(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            if isinstance(event, yaml.CollectionStartEvent):
                level += 1
    finally:
        loader.dispose()
    return aliased


def check_bounds(root: yaml.Node | None) -> None:
    """Refuse a node graph that expands (through aliases) beyond MAX_VALUES values or MAX_DEPTH
    levels, or that refers to itself. Sizes are counted per distinct node, so a bomb costs its own
    size to detect, not its expansion."""
    if root is None:
        return
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _children(node)
        if children_done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_VALUES:
                raise YamlError(f"the document expands (through its aliases) to more than {MAX_VALUES:,} values; "
                                f"write the values out instead of repeating aliases", node.start_mark)
            if depth[key] > MAX_DEPTH:
                raise YamlError(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlError("an alias refers to the collection that contains it", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _load(text: str, loader_class: type) -> Any:
    aliased = scan_bounds(text, loader_class)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if aliased:
            check_bounds(node)
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def load_yaml(text: str) -> Any:
    """Plain data (dict, list, str, int, float, bool, None) from YAML text; YamlError for anything
    else, with the line of the problem (for a text of up to MARKS_CHARS, the pure-Python parser's
    marks point at the problem itself; libyaml's at where it noticed)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # bytes that were not UTF-8, decoded to lone surrogates (a command line's)
        raise YamlError(f"not UTF-8 text (character {err.start + 1} is a byte that is not UTF-8)") from None
    try:
        return _load(text, _LOADER)
    except YamlError:
        raise
    except yaml.MarkedYAMLError as err:
        if len(text) > MARKS_CHARS:  # the pure-Python parser would take seconds over it
            raise _syntax_error(err) from None
    except yaml.YAMLError:
        pass
    except RecursionError:
        raise YamlError(f"nested more than {MAX_DEPTH} levels deep") from None
    try:
        return _load(text, _MARKS_LOADER)
    except YamlError:
        raise
    except yaml.MarkedYAMLError as err:
        raise _syntax_error(err) from None
    except yaml.YAMLError as err:
        raise YamlError(f"not valid YAML: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    except RecursionError:
        raise YamlError(f"nested more than {MAX_DEPTH} levels deep") from None


def _syntax_error(err: yaml.MarkedYAMLError) -> YamlError:
    mark = err.problem_mark or err.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return YamlError(f"not valid YAML{where}: {err.problem or err.context or 'parse error'}")


class _Dumper(yaml.SafeDumper):
    pass


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(v, (dict, list)) for v in data) and len(data) <= 16
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(tuple, _represent_list)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
