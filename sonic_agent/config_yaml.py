"""The config file's YAML, read with bounds: a hostile file costs milliseconds, never gigabytes.

PyYAML's safe loader builds only plain types, but on its own it lets a 400-byte file of
aliases stand for a billion values (each alias is a reference: cheap to build, ruinous to walk
or print) and recurses once per nesting level. Here the file is at most `MAX_BYTES` of UTF-8
without NUL bytes (nor other characters YAML refuses), nesting stops at `MAX_DEPTH` while composing (before the rest is read), and
the composed document, aliases expanded, must hold at most `MAX_VALUES` values (counted over
the node graph, each node once, so the count itself is linear in the file). Every refusal is a
UserError naming the file and what was wrong.
"""
from __future__ import annotations

from typing import Any, Dict, Set, Tuple

import yaml

from .errors import UserError

MAX_BYTES = 1 << 20
MAX_DEPTH = 32  # mappings and lists in one another; the config's own nesting is 4
MAX_VALUES = 100_000  # scalars, lists and mappings, aliases expanded


class _TooDeep(Exception):
    def __init__(self, mark):
        self.mark = mark


class _Unbounded(Exception):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """Stops composing at MAX_DEPTH nested collections."""

    _depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def measure(node: yaml.Node, depth: int, seen: Dict[int, Tuple[int, int]], busy: Set[int]) -> Tuple[int, int]:
    """(values, nesting) of what `node` stands for once its aliases are expanded, memoised per
    node; refused past MAX_VALUES or MAX_DEPTH (aliases can nest what each was composed within),
    and a node that contains itself stands for infinitely many."""
    if depth >= MAX_DEPTH:
        raise _Unbounded(f"nested deeper than {MAX_DEPTH} levels once YAML aliases are expanded")
    known = seen.get(id(node))
    if known is None:
        if id(node) in busy:
            raise _Unbounded("a YAML alias that contains itself")
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        busy.add(id(node))
        measured = [measure(child, depth + 1, seen, busy) for child in children]
        busy.discard(id(node))
        known = seen[id(node)] = (1 + sum(m[0] for m in measured), 1 + max((m[1] for m in measured), default=0))
    if known[0] > MAX_VALUES:
        raise _Unbounded(f"more than {MAX_VALUES} values once YAML aliases are expanded")
    if depth + known[1] > MAX_DEPTH:
        raise _Unbounded(f"nested deeper than {MAX_DEPTH} levels once YAML aliases are expanded")
    return known


def parse(text: str, where: str) -> Any:
    """One YAML document of `text` (`where` names it in errors), within the bounds above."""
    loader = None
    try:
        loader = _BoundedLoader(text)  # checks every character first
        node = loader.get_single_node()
        if node is None:
            return None
        measure(node, 0, {}, set())
        try:
            return loader.construct_document(node)
        except ValueError:  # Python refuses integers of more than 4300 digits
            raise UserError(f"{where}: a number too long to read") from None
    except _Unbounded as exc:
        raise UserError(f"{where}: {exc}") from None
    except _TooDeep as exc:
        raise UserError(f"{where} line {exc.mark.line + 1}: nested deeper than {MAX_DEPTH} levels") from None
    except yaml.reader.ReaderError as exc:
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise UserError(f"{where}: character U+{char:04X} at offset {exc.position} is not allowed in YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{where}{line}: not valid YAML") from None
    finally:
        if loader is not None:
            loader.dispose()


def read(path: str) -> Any:
    """The YAML document in file `path`."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UserError(f"config: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise UserError(f"config: {path}: larger than {MAX_BYTES >> 20} MiB")
    nul = data.find(b"\0")
    if nul >= 0:
        raise UserError(f"config: {path}: a NUL byte at offset {nul} (not a text file?)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"config: {path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    return parse(text, f"config: {path}")
