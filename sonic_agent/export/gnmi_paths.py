"""Pure encoder: a Snapshot -> gNMI leaves (path -> value) by catalogue, path matching, typed values.

Every catalogue entry with an OpenConfig (or /telegen) path template is a leaf per record
(README lists the paths); a histogram is a list of buckets keyed by their low bound, each with
`high` (all but the open-ended last) and `packets`. OpenConfig enums are upper case (UP, DOWN);
a missing key value (a flow without ports) is the empty string; empty texts are no leaf. An
entry with a namespace of its own (a buffer pool) has a `namespace` key on multi-ASIC switches.

Request paths may use `*` for any element or key value, `...` for any depth, and leave keys out
to mean all; a path names its whole subtree. Only the entries whose template a request can
match are built (`leaves`), and matching is linear in path length times pattern length.
Under JSON_IETF, counters (uint64) are JSON strings (RFC 7951); everything else is a number or
a string as it is. Under TARGET_DEFINED counters and gauges are sampled, the rest sent on change.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, NamedTuple, Optional, Sequence, Tuple

from pygnmi.spec.v080 import gnmi_pb2

from ..catalogue import CATALOGUE, COUNTER, GAUGE, HISTOGRAM, INFO, STATE, Catalogue, Metric
from ..catalogue.model import text
from ..records import Snapshot

Elem = Tuple[str, Tuple[Tuple[str, str], ...]]  # (name, sorted (key, value) pairs)
PathKey = Tuple[Elem, ...]
Pattern = Tuple[Tuple[str, Tuple[Tuple[str, str], ...]], ...]  # a request path, the same shape


class Leaf(NamedTuple):
    value: Any
    kind: str  # the catalogue kind: how it is typed and whether TARGET_DEFINED samples it


Leaves = Dict[PathKey, Leaf]
EVERYTHING: Pattern = ()


def from_proto(prefix: gnmi_pb2.Path, path: gnmi_pb2.Path) -> Pattern:
    """A request pattern: prefix elems then path elems, each (name, sorted keys)."""
    return tuple((e.name, tuple(sorted(e.key.items()))) for e in list(prefix.elem) + list(path.elem))


def _elem_matches(pattern_elem, elem, wild_placeholders: bool) -> bool:
    name, keys = pattern_elem
    if name not in ("*", elem[0]) and not (wild_placeholders and elem[0] == "*"):
        return False
    if keys:
        have = dict(elem[1])
        for k, v in keys:
            got = have.get(k)
            if v != "*" and got != v and not (wild_placeholders and got is not None and got.startswith("{")):
                return False
    return True


def matches(pattern: Pattern, path: Sequence[Elem], wild_placeholders: bool = False) -> bool:
    """Does `path` lie under `pattern` (a prefix match: a pattern names its subtree)? `...`
    matches any number of elements. States are pattern positions, so the cost is at most
    len(pattern) x len(path) element comparisons, whatever the number of `...`."""
    end = len(pattern)

    def closure(states):
        out, todo = set(), list(states)
        while todo:
            i = todo.pop()
            if i not in out:
                out.add(i)
                if i < end and pattern[i][0] == "...":
                    todo.append(i + 1)
        return out

    states = closure({0})
    for elem in path:
        if end in states:
            return True
        step = set()
        for i in states:
            if pattern[i][0] == "...":
                step.add(i)
            elif _elem_matches(pattern[i], elem, wild_placeholders):
                step.add(i + 1)
        if not step:
            return False
        states = closure(step)
    return end in states


class _Filler:
    """A metric's template with its key placeholders resolved to key positions."""

    def __init__(self, metric: Metric):
        self.metric = metric
        index = {k.name: i for i, k in enumerate(metric.entity.keys)}
        self.elems = []
        for name, keys in metric.gnmi_elems:
            self.elems.append((name, tuple((k, ("slot", index[v[1:-1]]) if v.startswith("{") and v[1:-1] in index
                                            else ("low", 0) if v == "{low}" else ("const", v)) for k, v in keys)))
        self.template = metric.gnmi_elems + ((("*", ()),) if metric.kind == HISTOGRAM else ())

    def path(self, key: tuple, low: Optional[int] = None) -> PathKey:
        out = []
        for name, keys in self.elems:
            values = []
            for k, (how, i) in keys:
                value = text(key[i]) if how == "slot" else str(low) if how == "low" else i
                if value or k != "namespace":  # the host namespace is no key (single-ASIC paths)
                    values.append((k, value))
            out.append((name, tuple(values)))
        return tuple(out)


_FILLERS: Dict[Tuple[int, str], _Filler] = {}


def _filler(catalogue: Catalogue, metric: Metric) -> _Filler:
    key = (id(catalogue), metric.name)
    filler = _FILLERS.get(key)
    if filler is None or filler.metric is not metric:
        filler = _FILLERS[key] = _Filler(metric)
    return filler


def leaves(snap: Snapshot, patterns: Iterable[Pattern], catalogue: Catalogue = CATALOGUE) -> Leaves:
    """Every leaf under any of `patterns`, building only the entries whose template one can match."""
    patterns = list(patterns)
    out: Leaves = {}
    for metric in catalogue:
        if not metric.gnmi:
            continue
        filler = _filler(catalogue, metric)
        wanted = [p for p in patterns if matches(p, filler.template, wild_placeholders=True)]
        if not wanted:
            continue
        # no key to check and naming the entry's every leaf (a histogram's bucket list, not one of
        # its leaves): every record is in
        exact = any(not any(keys for _, keys in p) and matches(p, metric.gnmi_elems, wild_placeholders=True)
                    for p in wanted)

        def keep(path: PathKey) -> bool:
            return exact or any(matches(p, path) for p in wanted)

        for key, value in metric.points(snap):
            if metric.kind == HISTOGRAM:
                for i, (low, count) in enumerate(zip(value.lows, value.counts)):
                    base = filler.path(key, low)
                    if i < len(value.bounds) and keep(base + (("high", ()),)):
                        out[base + (("high", ()),)] = Leaf(value.bounds[i], STATE)
                    if keep(base + (("packets", ()),)):
                        out[base + (("packets", ()),)] = Leaf(count, COUNTER)
                continue
            leaf = _leaf(metric.kind, value)
            if leaf is not None:
                path = filler.path(key)
                if keep(path):
                    out[path] = leaf
    return out


def _leaf(kind: str, value: Any) -> Optional[Leaf]:
    if kind == INFO:
        return None if value in (None, "") else Leaf(value, kind)
    if kind == COUNTER:
        return Leaf(int(value), kind)
    if isinstance(value, float) and value.is_integer() and kind in (GAUGE, STATE):
        value = int(value)
    return Leaf(value, kind)


def snapshot_leaves(snap: Snapshot, catalogue: Catalogue = CATALOGUE) -> Dict[PathKey, Any]:
    """Every leaf of a Snapshot, path -> value."""
    return {path: leaf.value for path, leaf in leaves(snap, [EVERYTHING], catalogue).items()}


def is_sampled(leaf: Leaf) -> bool:
    return leaf.kind in (COUNTER, GAUGE, HISTOGRAM)


def to_proto(path: PathKey) -> gnmi_pb2.Path:
    return gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name=name, key=dict(keys)) for name, keys in path])


def typed_value(leaf: Leaf, encoding: int) -> gnmi_pb2.TypedValue:
    if encoding == gnmi_pb2.JSON_IETF:
        value = str(leaf.value) if leaf.kind == COUNTER else leaf.value
        return gnmi_pb2.TypedValue(json_ietf_val=json.dumps(value).encode())
    return gnmi_pb2.TypedValue(json_val=json.dumps(leaf.value).encode())


def path_text(pattern: Pattern) -> str:
    return "/" + "/".join(name + "".join(f"[{k}={v}]" for k, v in keys) for name, keys in pattern)


def selected(snap: Snapshot, pattern: Pattern, catalogue: Catalogue = CATALOGUE) -> Leaves:
    """`leaves` of one pattern, once per Snapshot: streams subscribed to the same paths share it."""
    return snap.derived(("gnmi", id(catalogue), pattern), lambda: leaves(snap, [pattern], catalogue))
