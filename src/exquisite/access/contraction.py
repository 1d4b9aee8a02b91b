"""Chain contraction of a symmetric CSR graph: the searches run over the junctions only.

A walking network with points inserted on its edges is mostly chains: nodes of degree 2 (points, bends)
between junctions, and pendant paths ending at a dead end. :func:`contract_chains` keeps the *core* —
every node that is not a plain chain node — and replaces each maximal chain by

* one core entry at each end, leading to the other end over the chain's edge lengths, which a search adds
  one at a time in walking order, so a search over the core gets the very same floats as a search over the
  whole graph;
* a record of the chain's nodes in order from its end ``A`` and its edge lengths, from which every chain
  node's distance follows once its ends' distances are known: ``min(d(A) + w1 + …, d(B) + … + wk)``, again
  summed edge by edge from the end, as a search would.

A pendant path hangs off one core node ``A`` only (``B == -1``); a chain may also leave and re-enter the
same node (``A == B``). A component without any core node (a pure cycle, a bare path) gets one of its nodes
made core, and so does a degree-1 or -2 node with a self-loop. Nodes are renumbered into *slots*: the core
nodes first (in their original order), then the chain nodes, chain after chain, in order along each chain;
the chains are ordered by their ``A`` end. Everything is built in one pass over the graph, ``O(n + m)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

_INF = np.inf


#: Columns of :attr:`ChainContraction.entries`.
ENTRY_NODE = 0
ENTRY_LENGTH = 1
ENTRY_LINK = 2
ENTRY_SEQ = 3

#: Kinds of core entry (``link & 3``; ``link == -1`` is a plain edge between core nodes).
LINK_THROUGH_A = 0  # into a chain from its A end, on to B
LINK_THROUGH_B = 1  # into a chain from its B end, on to A
LINK_PENDANT = 2  # into a pendant path (no way on)
LINK_LOOP = 3  # into a chain that comes back to this node (listed once, from the A end)


class ChainContraction(NamedTuple):
    """A graph's core and its chains (see the module docstring); all ids are core ids or slots.

    Attributes
    ----------
    n_core
        Number of core nodes; core id ``i`` is slot ``i``.
    slot_node
        Original node id of each slot (a permutation of the nodes).
    node_slot
        Slot of each original node (the inverse permutation).
    indptr, entries
        CSR adjacency of the core: ``entries[indptr[u]:indptr[u + 1]]`` are core node ``u``'s entries, one
        row each, its columns indexed by the ``ENTRY_*`` constants (a search reads one row at a time, so
        they are kept together; one more row at the end closes the last entry's lengths):
        ``ENTRY_NODE`` the core id at the other end (for an entry into a pendant path or a loop, ``u``);
        ``ENTRY_LENGTH`` the ``float64`` bits (``entries.view(np.float64)``) of its length — the edge's,
        the chain's lengths added up in walking order, or ``inf`` into a pendant path or a loop (no search
        goes on along those); ``ENTRY_LINK`` ``-1`` for a plain edge, else ``(first << 2) | kind``: the
        chain's nodes are slots ``n_core + first …`` in order from its A end, ``kind`` one of the
        ``LINK_*`` constants; ``ENTRY_SEQ`` where its lengths start in ``seq_w``. Parallel edges are kept.
    group_ptr
        A node's entries come in three groups: plain edges from ``indptr[u]``, entries into chains that
        lead on to another core node from ``group_ptr[u, 0]``, and into pendant paths and loops from
        ``group_ptr[u, 1]`` to ``indptr[u + 1]``.
    seq_w
        An entry into a chain walks it over the lengths ``seq_w[entries[j, ENTRY_SEQ]:entries[j + 1,
        ENTRY_SEQ]]``, in order: ``k + 1`` lengths for a chain of ``k`` nodes to its other end, ``k`` into a
        pendant path; none for a plain edge. Adding them to a distance one at a time gives the very floats a
        plain search would.
    chain_a, chain_b
        Core ids of each chain's ends; ``chain_b`` is ``-1`` for a pendant path.
    chain_ptr
        The nodes of chain ``c`` are slots ``n_core + chain_ptr[c] … n_core + chain_ptr[c + 1] - 1``,
        in order from ``chain_a[c]``.
    chain_w
        Edge lengths of chain ``c`` from ``A`` on: ``chain_w[chain_ptr[c] + c + i]`` joins its node
        ``i - 1`` (``A`` for ``i == 0``) to node ``i``; the last one (``i == k``) joins node ``k - 1`` to
        ``B`` (``inf`` for a pendant path).
    slot_chain
        Chain of each chain slot (index ``slot - n_core``).
    max_chain
        Largest number of nodes of a chain (at least 1).
    """

    n_core: int
    slot_node: np.ndarray
    node_slot: np.ndarray
    indptr: np.ndarray
    group_ptr: np.ndarray
    entries: np.ndarray
    seq_w: np.ndarray
    chain_a: np.ndarray
    chain_b: np.ndarray
    chain_ptr: np.ndarray
    chain_w: np.ndarray
    slot_chain: np.ndarray
    max_chain: int


@njit(cache=True)
def _walk_chain(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    is_core: np.ndarray,
    chain_of: np.ndarray,
    u: int,
    j: int,
    c: int,
    nodes: np.ndarray,
    n_pos: int,
    w: np.ndarray,
    n_w: int,
) -> tuple[int, int, int]:
    """Follow the chain that leaves core node ``u`` by entry ``j``; append it as chain ``c``.

    Returns the new node and weight counts and the far end (``-1`` at a dead end).
    """
    prev = u
    v = indices[j]
    length = weights[j]
    while True:
        if chain_of[v] >= 0:
            raise ValueError("the adjacency is not symmetric")
        w[n_w] = length
        n_w += 1
        nodes[n_pos] = v
        n_pos += 1
        chain_of[v] = c
        first = indptr[v]
        if indptr[v + 1] - first == 1:  # a dead end
            w[n_w] = _INF
            return n_pos, n_w + 1, -1
        # Leave by the entry that is not the way in (with parallel edges, the way in has our length).
        if indices[first] == prev and (indices[first + 1] != prev or weights[first] == length):
            out = first + 1
        else:
            out = first
        nxt = indices[out]
        length = weights[out]
        if is_core[nxt]:
            w[n_w] = length
            return n_pos, n_w + 1, nxt
        prev = v
        v = nxt


@njit(cache=True)
def _contract(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> tuple:
    """The fields of :class:`ChainContraction`, in order."""
    n = indptr.shape[0] - 1
    m = indices.shape[0]
    # A chain node has one or two entries, none of them a self-loop; every other node is core.
    is_core = np.ones(n, dtype=np.bool_)
    for v in range(n):
        deg = indptr[v + 1] - indptr[v]
        if 1 <= deg <= 2:
            plain = True
            for j in range(indptr[v], indptr[v + 1]):
                if indices[j] == v:
                    plain = False
            is_core[v] = not plain

    chain_of = np.full(n, -1, dtype=np.int64)
    nodes = np.empty(n, dtype=np.int64)
    w = np.empty(2 * n + 1, dtype=np.float64)
    ptr = np.empty(n + 1, dtype=np.int64)
    end_a = np.empty(n, dtype=np.int64)
    end_b = np.empty(n, dtype=np.int64)
    n_chains = 0
    n_pos = 0
    n_w = 0
    ptr[0] = 0
    # Chains from the core nodes, then components without one: their first free node becomes core.
    for phase in range(2):
        for u in range(n):
            if phase == 0:
                if not is_core[u]:
                    continue
            else:
                if is_core[u] or chain_of[u] >= 0:
                    continue
                is_core[u] = True
            for j in range(indptr[u], indptr[u + 1]):
                v = indices[j]
                if is_core[v] or chain_of[v] >= 0:
                    continue
                n_pos, n_w, b = _walk_chain(
                    indptr, indices, weights, is_core, chain_of, u, j, n_chains, nodes, n_pos, w, n_w
                )
                end_a[n_chains] = u
                end_b[n_chains] = b
                n_chains += 1
                ptr[n_chains] = n_pos

    core_id = np.full(n, -1, dtype=np.int64)
    n_core = 0
    for v in range(n):
        if is_core[v]:
            core_id[v] = n_core
            n_core += 1

    # Order the chains by their A end (counting sort) and lay out the slots.
    fill = np.zeros(n_core + 1, dtype=np.int64)
    for c in range(n_chains):
        fill[core_id[end_a[c]] + 1] += 1
    for i in range(n_core):
        fill[i + 1] += fill[i]
    order = np.empty(n_chains, dtype=np.int64)
    for c in range(n_chains):
        a = core_id[end_a[c]]
        order[fill[a]] = c
        fill[a] += 1

    slot_node = np.empty(n, dtype=np.int64)
    for v in range(n):
        if is_core[v]:
            slot_node[core_id[v]] = v
    chain_a = np.empty(n_chains, dtype=np.int64)
    chain_b = np.empty(n_chains, dtype=np.int64)
    chain_ptr = np.empty(n_chains + 1, dtype=np.int64)
    chain_w = np.empty(n_pos + n_chains, dtype=np.float64)
    slot_chain = np.empty(n_pos, dtype=np.int64)
    new_of_old = np.empty(n_chains, dtype=np.int64)
    pos = 0
    chain_ptr[0] = 0
    for c in range(n_chains):
        old = order[c]
        new_of_old[old] = c
        chain_a[c] = core_id[end_a[old]]
        chain_b[c] = core_id[end_b[old]] if end_b[old] >= 0 else -1
        k = ptr[old + 1] - ptr[old]
        for i in range(k):
            slot_node[n_core + pos + i] = nodes[ptr[old] + i]
            slot_chain[pos + i] = c
        for i in range(k + 1):
            chain_w[pos + c + i] = w[ptr[old] + old + i]
        pos += k
        chain_ptr[c + 1] = pos
    node_slot = np.empty(n, dtype=np.int64)
    for s in range(n):
        node_slot[slot_node[s]] = s

    # The core adjacency: plain edges between core nodes, and one entry per chain end into the chain;
    # per node the plain edges first, then the entries into chains that lead on, then into pendant paths
    # and loops (those two kept aside while the node's edges are read once).
    max_degree = 0
    for u in range(n):
        max_degree = max(max_degree, indptr[u + 1] - indptr[u])
    through = np.empty(max_degree, dtype=np.int64)
    dead_ends = np.empty(max_degree, dtype=np.int64)
    core_indptr = np.empty(n_core + 1, dtype=np.int64)
    group_ptr = np.empty((n_core, 2), dtype=np.int64)
    entries = np.empty((m + 1, 4), dtype=np.int64)
    length_bits = np.empty(1, dtype=np.float64)  # a length, read back as its bits
    bits = length_bits.view(np.int64)
    seq_w = np.empty(m, dtype=np.float64)
    listed = np.zeros(n_chains, dtype=np.bool_)
    n_e = 0
    n_s = 0
    core_indptr[0] = 0
    for cu in range(n_core):
        u = slot_node[cu]
        n_through = 0
        n_dead = 0
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            if v == u:
                continue  # a self-loop never shortens a path
            if is_core[v]:
                length_bits[0] = weights[j]
                entries[n_e, ENTRY_NODE] = core_id[v]
                entries[n_e, ENTRY_LENGTH] = bits[0]
                entries[n_e, ENTRY_LINK] = -1
                entries[n_e, ENTRY_SEQ] = n_s
                n_e += 1
                continue
            c = new_of_old[chain_of[v]]
            if chain_b[c] >= 0 and chain_a[c] != chain_b[c]:
                through[n_through] = c
                n_through += 1
            elif not listed[c]:  # (a loop's other end is not listed again)
                listed[c] = True
                dead_ends[n_dead] = c
                n_dead += 1
        group_ptr[cu, 0] = n_e
        group_ptr[cu, 1] = n_e + n_through  # an entry per chain
        for i in range(n_through + n_dead):
            c = through[i] if i < n_through else dead_ends[i - n_through]
            a, b = chain_a[c], chain_b[c]
            base = chain_ptr[c] + c
            k = chain_ptr[c + 1] - chain_ptr[c]
            first = chain_ptr[c] << 2
            entries[n_e, ENTRY_SEQ] = n_s
            if i < n_through:
                forward = a == cu
                total = 0.0
                for q in range(k + 1):
                    w_q = chain_w[base + q] if forward else chain_w[base + k - q]
                    seq_w[n_s + q] = w_q
                    total += w_q
                n_s += k + 1
                length_bits[0] = total
                entries[n_e, ENTRY_NODE] = b if forward else a
                entries[n_e, ENTRY_LINK] = first | (LINK_THROUGH_A if forward else LINK_THROUGH_B)
            else:
                n_w = k if b < 0 else k + 1
                for q in range(n_w):
                    seq_w[n_s + q] = chain_w[base + q]
                n_s += n_w
                length_bits[0] = _INF
                entries[n_e, ENTRY_NODE] = cu
                entries[n_e, ENTRY_LINK] = first | (LINK_PENDANT if b < 0 else LINK_LOOP)
            entries[n_e, ENTRY_LENGTH] = bits[0]
            n_e += 1
        core_indptr[cu + 1] = n_e
    max_chain = 1
    for c in range(n_chains):
        max_chain = max(max_chain, chain_ptr[c + 1] - chain_ptr[c])
    length_bits[0] = _INF
    entries[n_e, ENTRY_NODE] = -1
    entries[n_e, ENTRY_LENGTH] = bits[0]
    entries[n_e, ENTRY_LINK] = -1
    entries[n_e, ENTRY_SEQ] = n_s
    return (
        n_core,
        slot_node,
        node_slot,
        core_indptr,
        group_ptr,
        entries[: n_e + 1],
        seq_w[:n_s],
        chain_a,
        chain_b,
        chain_ptr,
        chain_w,
        slot_chain,
        max_chain,
    )


def contract_chains(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> ChainContraction:
    """Contract the chains of degree-2 nodes and the pendant paths of a symmetric CSR graph.

    Parameters
    ----------
    indptr, indices, weights
        Symmetric CSR adjacency (``int64``, ``int64``, ``float64``) with non-negative edge lengths; parallel
        edges, zero-length edges and self-loops are allowed.

    Returns
    -------
    ChainContraction
        The core graph, the chains and the node ↔ slot numbering.
    """
    return ChainContraction(*_contract(indptr, indices, weights))
