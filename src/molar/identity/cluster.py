"""Clustering linked pairs into people, with protection against chaining errors.

1. ``components``: connected components of the linked pairs (records are integers
   0..n-1 here; the caller maps unique IDs).
2. ``split_conflicts``: a component that holds two records which cannot be one person
   (different verified ID numbers; or, when not directly linked, different sexes or birth
   dates far apart) is rebuilt greedily: its links are added strongest first
   (deterministic links before scored ones), skipping any link that would put a
   conflicting pair together. The result is the same component where nothing conflicts,
   and the weakest links give way where something does.
3. ``apply_overrides``: manual merges and splits, in the order they were made.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Component label (the smallest member index) of each of ``n`` nodes."""
    labels = np.arange(n, dtype=np.int64)
    if len(left) == 0:
        return labels
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    while True:
        low = np.minimum(labels[left], labels[right])
        before = labels.copy()
        np.minimum.at(labels, left, low)
        np.minimum.at(labels, right, low)
        # pointer jumping: follow labels to their own labels until stable
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(before, labels):
            return labels


class _UnionFind:
    def __init__(self, items: Iterable[int]) -> None:
        self.parent = {i: i for i in items}
        self.members: dict[int, set[int]] = {i: {i} for i in self.parent}

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        return ra


def split_component(
    nodes: Sequence[int],
    edges: Sequence[tuple[int, int, float, bool]],
    conflicts: set[tuple[int, int]],
) -> dict[int, int]:
    """Greedy constrained re-clustering of one component.

    ``edges`` are (a, b, weight, deterministic); ``conflicts`` holds (min, max) record
    pairs that must not end up together. Returns node → new label (smallest member).
    """
    uf = _UnionFind(nodes)
    bad: dict[int, set[int]] = defaultdict(set)
    for a, b in conflicts:
        bad[a].add(b)
        bad[b].add(a)
    for a, b, _w, _det in sorted(edges, key=lambda e: (not e[3], -e[2], e[0], e[1])):
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        small, large = (ra, rb) if len(uf.members[ra]) <= len(uf.members[rb]) else (rb, ra)
        large_members = uf.members[large]
        if any(bad[x] & large_members for x in uf.members[small]):
            continue
        uf.union(a, b)
    out = {}
    for node in nodes:
        root = uf.find(node)
        out[node] = min(uf.members[root])
    return out


def split_conflicts(
    labels: np.ndarray,
    edges: Sequence[tuple[int, int, float, bool]],
    conflicts: Iterable[tuple[int, int]],
) -> tuple[np.ndarray, int]:
    """Split every component holding a conflicting pair; returns (labels, components split)."""
    by_component: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for a, b in conflicts:
        if labels[a] == labels[b]:
            by_component[int(labels[a])].add((min(a, b), max(a, b)))
    if not by_component:
        return labels, 0
    labels = labels.copy()
    wanted = set(by_component)
    comp_edges: dict[int, list[tuple[int, int, float, bool]]] = defaultdict(list)
    for e in edges:
        c = int(labels[e[0]])
        if c in wanted:
            comp_edges[c].append(e)
    members: dict[int, list[int]] = defaultdict(list)
    for node in np.flatnonzero(np.isin(labels, np.fromiter(wanted, dtype=np.int64))).tolist():
        members[int(labels[node])].append(node)
    split = 0
    for c, conf in by_component.items():
        new = split_component(members[c], comp_edges[c], conf)
        if len(set(new.values())) > 1:
            split += 1
        for node, lab in new.items():
            labels[node] = lab
    return labels, split


def apply_overrides(labels: np.ndarray, overrides: Sequence[tuple[str, Sequence[int]]]) -> np.ndarray:
    """Apply manual (kind, record indices) overrides in order.

    ``merge``: every cluster holding one of the records becomes one cluster.
    ``split``: in each cluster holding some of the records, those records leave the
    cluster together and form a cluster of their own.
    """
    labels = labels.copy()
    for kind, nodes in overrides:
        nodes = [int(x) for x in nodes]
        if not nodes:
            continue
        if kind == "merge":
            targets = {int(labels[x]) for x in nodes}
            keep = min(targets)
            labels[np.isin(labels, np.fromiter(targets, dtype=np.int64))] = keep
        elif kind == "split":
            groups: dict[int, list[int]] = defaultdict(list)
            for x in nodes:
                groups[int(labels[x])].append(x)
            for lab, chosen in groups.items():
                rest = np.flatnonzero(labels == lab)
                others = sorted(set(rest.tolist()) - set(chosen))
                if not others:
                    continue  # already a cluster of their own
                new_chosen, new_rest = min(chosen), min(others)
                labels[chosen] = new_chosen
                labels[others] = new_rest
        else:
            raise ValueError(f"unknown override kind {kind!r}; use 'merge' or 'split'")
    return labels
