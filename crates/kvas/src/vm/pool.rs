//! The fixed-capacity node pool the range trees live in.
//!
//! The allocators run before the kernel has a heap, so their tree nodes come
//! from an array of `N` [`Node`]s inside the allocator itself, addressed by
//! `u32` index ([`NIL`] is "no node"). Nodes never handed out yet are taken in
//! index order (`next_unused`); returned nodes go on a spare list threaded
//! through their `left` links. Both operations are O(1), and the pool starts as
//! all-default nodes, so it needs no initialisation loop.

/// "No node": the index of an empty subtree or of the end of the spare list.
pub(crate) const NIL: u32 = u32::MAX;

/// One range `[start, end)` in page numbers, and its place in an AVL tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    /// First page number of the range.
    pub(crate) start: u64,
    /// Page number just past the range.
    pub(crate) end: u64,
    /// Left child (lower starts), or [`NIL`].
    pub(crate) left: u32,
    /// Right child (higher starts), or [`NIL`].
    pub(crate) right: u32,
    /// Height of the subtree rooted here (a leaf has height 1).
    pub(crate) height: u8,
    /// The largest `end - start` in the subtree rooted here.
    pub(crate) max_len: u64,
}

impl Node {
    /// A node that is in no tree.
    pub(crate) const EMPTY: Node = Node { start: 0, end: 0, left: NIL, right: NIL, height: 0, max_len: 0 };

    /// A node for `[start, end)` that is a whole tree by itself.
    pub(crate) const fn root(start: u64, end: u64) -> Node {
        Node { start, end, left: NIL, right: NIL, height: 1, max_len: end - start }
    }

    /// The range's length in pages.
    pub(crate) const fn len(&self) -> u64 {
        self.end - self.start
    }
}

/// `N` nodes, handed out and taken back in O(1).
#[derive(Clone, Debug)]
pub(crate) struct NodePool<const N: usize> {
    nodes: [Node; N],
    /// Nodes `next_unused..N` have never been handed out.
    next_unused: u32,
    /// Head of the list of returned nodes (linked through `left`).
    spare: u32,
    /// Nodes handed out and not yet returned.
    in_use: usize,
}

impl<const N: usize> NodePool<N> {
    /// The largest capacity: indices must stay below [`NIL`].
    pub(crate) const MAX_CAPACITY: usize = NIL as usize;

    /// An empty pool. `N` must not exceed [`Self::MAX_CAPACITY`] (the caller checks).
    #[cfg(test)]
    pub(crate) const fn new() -> Self {
        NodePool { nodes: [Node::EMPTY; N], next_unused: 0, spare: NIL, in_use: 0 }
    }

    /// A pool whose node 0 is taken for `[start, end)` as a lone tree root
    /// (height 1), the rest untouched. `N` must be at least 1 (the caller checks).
    pub(crate) const fn with_one(start: u64, end: u64) -> Self {
        let mut nodes = [Node::EMPTY; N];
        nodes[0] = Node::root(start, end);
        NodePool { nodes, next_unused: 1, spare: NIL, in_use: 1 }
    }

    /// Forgets every node but node 0, which becomes the lone root `[start, end)`:
    /// what [`Self::with_one`] builds, in O(1) and in place. (A node is always
    /// rewritten whole when taken, so stale contents past `next_unused` are harmless.)
    pub(crate) fn reset_to_one(&mut self, start: u64, end: u64) {
        self.nodes[0] = Node::root(start, end);
        self.next_unused = 1;
        self.spare = NIL;
        self.in_use = 1;
    }

    /// How many nodes can still be taken.
    pub(crate) const fn available(&self) -> usize {
        N - self.in_use
    }

    /// How many nodes are taken.
    pub(crate) const fn in_use(&self) -> usize {
        self.in_use
    }

    /// Takes a node for `[start, end)`, detached from any tree.
    pub(crate) fn take(&mut self, start: u64, end: u64) -> Option<u32> {
        let idx = if self.spare != NIL {
            let idx = self.spare;
            self.spare = self.nodes[idx as usize].left;
            idx
        } else if (self.next_unused as usize) < N {
            self.next_unused += 1;
            self.next_unused - 1
        } else {
            return None;
        };
        self.nodes[idx as usize] = Node { start, end, ..Node::EMPTY };
        self.in_use += 1;
        Some(idx)
    }

    /// Returns a node taken with [`Self::take`] and no longer in any tree.
    pub(crate) fn give_back(&mut self, idx: u32) {
        self.nodes[idx as usize] = Node { left: self.spare, ..Node::EMPTY };
        self.spare = idx;
        self.in_use -= 1;
    }

    /// The nodes, for the tree operations.
    pub(crate) fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The nodes, for the tree operations.
    pub(crate) fn nodes_mut(&mut self) -> &mut [Node] {
        &mut self.nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_in_order_then_reuses_returned_nodes_then_runs_dry() {
        let mut pool = NodePool::<3>::new();
        assert_eq!(pool.available(), 3);
        assert_eq!(pool.take(1, 2), Some(0));
        assert_eq!(pool.take(3, 4), Some(1));
        pool.give_back(0);
        assert_eq!(pool.in_use(), 1);
        assert_eq!(pool.take(5, 6), Some(0));
        assert_eq!(pool.nodes()[0], Node { start: 5, end: 6, ..Node::EMPTY });
        assert_eq!(pool.take(7, 8), Some(2));
        assert_eq!(pool.available(), 0);
        assert_eq!(pool.take(9, 10), None);
        pool.give_back(1);
        pool.give_back(2);
        assert_eq!(pool.take(0, 1), Some(2));
        assert_eq!(pool.take(0, 1), Some(1));
        assert_eq!(pool.take(0, 1), None);
    }

    #[test]
    fn a_pool_with_one_root_and_its_reset() {
        let mut pool = NodePool::<2>::with_one(3, 10);
        assert_eq!(pool.nodes()[0], Node::root(3, 10));
        assert_eq!(pool.nodes()[0].max_len, 7);
        assert_eq!((pool.in_use(), pool.take(0, 1)), (1, Some(1)));
        assert_eq!(pool.take(0, 1), None);
        pool.give_back(1);
        pool.reset_to_one(5, 6);
        assert_eq!((pool.nodes()[0], pool.in_use()), (Node::root(5, 6), 1));
        assert_eq!(pool.take(0, 1), Some(1));
        assert_eq!(pool.take(0, 1), None);
    }

    #[test]
    fn a_node_is_40_bytes() {
        // docs/VM.md sizes pools with this.
        assert_eq!(core::mem::size_of::<Node>(), 40);
    }

    #[test]
    fn an_empty_pool_gives_nothing() {
        let mut pool = NodePool::<0>::new();
        assert_eq!(pool.available(), 0);
        assert_eq!(pool.take(0, 1), None);
    }
}
