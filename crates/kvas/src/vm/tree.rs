//! An AVL tree of disjoint page ranges keyed by start, augmented with the
//! largest range length in each subtree.
//!
//! The nodes live in a [`NodePool`](super::pool::NodePool) and link by index.
//! Each node keeps, besides its range and children, its subtree's `height` (for
//! AVL balancing) and `max_len`, the longest range in its subtree — the
//! augmentation Linux keeps as `subtree_max_size` in its vmap_area rbtree:
//!
//! ```text
//!                     [40,44) max 8
//!                    /             \
//!         [10,12) max 5           [60,68) max 8
//!         /        \                      \
//!   [0,1) max 1   [20,25) max 5          [90,93) max 3
//! ```
//!
//! Invariants, checked by [`Tree::check`]:
//! - in-order, starts strictly increase (the ranges' disjointness is the
//!   callers' to keep);
//! - `height = 1 + max(height(left), height(right))` and the two differ by at
//!   most one, so the depth is at most 1.44·log2(n + 2);
//! - `max_len = max(len, max_len(left), max_len(right))`.
//!
//! With `max_len`, "the lowest range at least `len` long" is one walk from the
//! root ([`Tree::first_fit`]): go left while the left subtree holds such a
//! range, else take this node if it is long enough, else go right — never back
//! up. Insert, remove and in-place resizing fix `height` and `max_len` on the way
//! back up the one path they walked. Every operation is O(log n); the recursion
//! is at most the tree's depth (under 48 for any pool that `u32` indices address).

use super::pool::{Node, NIL};

/// Deepest an AVL tree of fewer than 2^32 nodes gets: 1.44·log2(2^32 + 2) < 47.
const MAX_DEPTH: usize = 48;

/// A tree of ranges; the nodes are in a pool that every call passes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tree {
    root: u32,
}

fn height(nodes: &[Node], n: u32) -> u8 {
    if n == NIL {
        0
    } else {
        nodes[n as usize].height
    }
}

fn max_len(nodes: &[Node], n: u32) -> u64 {
    if n == NIL {
        0
    } else {
        nodes[n as usize].max_len
    }
}

/// Recomputes `height` and `max_len` of `n` from its children.
fn update(nodes: &mut [Node], n: u32) {
    let node = nodes[n as usize];
    let h = 1 + height(nodes, node.left).max(height(nodes, node.right));
    let m = node.len().max(max_len(nodes, node.left)).max(max_len(nodes, node.right));
    let node = &mut nodes[n as usize];
    node.height = h;
    node.max_len = m;
}

fn rotate_right(nodes: &mut [Node], n: u32) -> u32 {
    let l = nodes[n as usize].left;
    nodes[n as usize].left = nodes[l as usize].right;
    nodes[l as usize].right = n;
    update(nodes, n);
    update(nodes, l);
    l
}

fn rotate_left(nodes: &mut [Node], n: u32) -> u32 {
    let r = nodes[n as usize].right;
    nodes[n as usize].right = nodes[r as usize].left;
    nodes[r as usize].left = n;
    update(nodes, n);
    update(nodes, r);
    r
}

/// Restores the AVL balance at `n` (children already balanced) and returns the
/// subtree's new root.
fn rebalance(nodes: &mut [Node], n: u32) -> u32 {
    update(nodes, n);
    let Node { left, right, .. } = nodes[n as usize];
    let (hl, hr) = (height(nodes, left), height(nodes, right));
    if hl > hr + 1 {
        let l = nodes[left as usize];
        if height(nodes, l.left) < height(nodes, l.right) {
            nodes[n as usize].left = rotate_left(nodes, left);
        }
        return rotate_right(nodes, n);
    }
    if hr > hl + 1 {
        let r = nodes[right as usize];
        if height(nodes, r.right) < height(nodes, r.left) {
            nodes[n as usize].right = rotate_right(nodes, right);
        }
        return rotate_left(nodes, n);
    }
    n
}

fn insert_at(nodes: &mut [Node], n: u32, idx: u32) -> u32 {
    if n == NIL {
        let node = &mut nodes[idx as usize];
        node.left = NIL;
        node.right = NIL;
        update(nodes, idx);
        return idx;
    }
    if nodes[idx as usize].start < nodes[n as usize].start {
        let child = insert_at(nodes, nodes[n as usize].left, idx);
        nodes[n as usize].left = child;
    } else {
        let child = insert_at(nodes, nodes[n as usize].right, idx);
        nodes[n as usize].right = child;
    }
    rebalance(nodes, n)
}

/// Detaches the lowest node of the subtree `n`: (new subtree root, that node).
fn remove_min(nodes: &mut [Node], n: u32) -> (u32, u32) {
    let left = nodes[n as usize].left;
    if left == NIL {
        return (nodes[n as usize].right, n);
    }
    let (child, min) = remove_min(nodes, left);
    nodes[n as usize].left = child;
    (rebalance(nodes, n), min)
}

/// Detaches the node starting at `key`: (new subtree root, that node or NIL).
fn remove_at(nodes: &mut [Node], n: u32, key: u64) -> (u32, u32) {
    if n == NIL {
        return (NIL, NIL);
    }
    let node = nodes[n as usize];
    if key < node.start {
        let (child, removed) = remove_at(nodes, node.left, key);
        nodes[n as usize].left = child;
        return (rebalance(nodes, n), removed);
    }
    if key > node.start {
        let (child, removed) = remove_at(nodes, node.right, key);
        nodes[n as usize].right = child;
        return (rebalance(nodes, n), removed);
    }
    if node.left == NIL {
        return (node.right, n);
    }
    if node.right == NIL {
        return (node.left, n);
    }
    let (right, succ) = remove_min(nodes, node.right);
    nodes[succ as usize].left = node.left;
    nodes[succ as usize].right = right;
    (rebalance(nodes, succ), n)
}

/// Gives the node starting at `key` the bounds `[start, end)`; returns whether
/// it was found. The `max_len` of every node on the path is recomputed.
fn set_bounds_at(nodes: &mut [Node], n: u32, key: u64, start: u64, end: u64) -> bool {
    if n == NIL {
        return false;
    }
    let node = nodes[n as usize];
    let found = if key < node.start {
        set_bounds_at(nodes, node.left, key, start, end)
    } else if key > node.start {
        set_bounds_at(nodes, node.right, key, start, end)
    } else {
        nodes[n as usize].start = start;
        nodes[n as usize].end = end;
        true
    };
    update(nodes, n);
    found
}

/// In-order search of the subtree `n`, visiting only subtrees whose `max_len`
/// reaches `min_len`, for the lowest node `accept` takes.
fn first_match_at(nodes: &[Node], n: u32, min_len: u64, accept: &impl Fn(&Node) -> bool) -> u32 {
    if n == NIL || nodes[n as usize].max_len < min_len {
        return NIL;
    }
    let node = &nodes[n as usize];
    let found = first_match_at(nodes, node.left, min_len, accept);
    if found != NIL {
        return found;
    }
    if node.len() >= min_len && accept(node) {
        return n;
    }
    first_match_at(nodes, node.right, min_len, accept)
}

/// Checks the invariants of the subtree `n` whose starts must lie in
/// `[lo, hi)`; returns its height and node count.
fn check_at(nodes: &[Node], n: u32, lo: u64, hi: u64, depth: usize) -> Result<(u8, usize), &'static str> {
    if n == NIL {
        return Ok((0, 0));
    }
    if depth > MAX_DEPTH || n as usize >= nodes.len() {
        return Err("a tree link leaves the pool or loops");
    }
    let node = nodes[n as usize];
    if node.start < lo || node.start >= hi {
        return Err("tree starts are not in increasing order");
    }
    if node.start >= node.end {
        return Err("a tree node holds an empty range");
    }
    let (hl, cl) = check_at(nodes, node.left, lo, node.start, depth + 1)?;
    let (hr, cr) = check_at(nodes, node.right, node.start + 1, hi, depth + 1)?;
    if hl.abs_diff(hr) > 1 {
        return Err("a tree node is out of AVL balance");
    }
    if node.height != 1 + hl.max(hr) {
        return Err("a tree node's height is stale");
    }
    let m = node.len().max(max_len(nodes, node.left)).max(max_len(nodes, node.right));
    if node.max_len != m {
        return Err("a tree node's largest-range augmentation is stale");
    }
    Ok((node.height, cl + cr + 1))
}

impl Tree {
    /// The empty tree.
    pub(crate) const EMPTY: Tree = Tree { root: NIL };

    /// A tree whose root is node `root`, already a valid tree by itself.
    pub(crate) const fn with_root(root: u32) -> Tree {
        Tree { root }
    }

    /// Whether the tree holds no node.
    #[cfg(test)]
    pub(crate) const fn is_empty(&self) -> bool {
        self.root == NIL
    }

    /// Links the detached node `idx` in, by its start.
    pub(crate) fn insert(&mut self, nodes: &mut [Node], idx: u32) {
        self.root = insert_at(nodes, self.root, idx);
    }

    /// Unlinks the node that starts at `key` and returns it, still taken from
    /// its pool.
    pub(crate) fn remove(&mut self, nodes: &mut [Node], key: u64) -> Option<u32> {
        let (root, removed) = remove_at(nodes, self.root, key);
        self.root = root;
        (removed != NIL).then_some(removed)
    }

    /// Resizes the node that starts at `key` to `[start, end)`. The caller keeps
    /// the order: no other node may start in between `key` and `start`.
    pub(crate) fn set_bounds(&mut self, nodes: &mut [Node], key: u64, start: u64, end: u64) -> bool {
        set_bounds_at(nodes, self.root, key, start, end)
    }

    /// The node that starts exactly at `key`.
    pub(crate) fn find(&self, nodes: &[Node], key: u64) -> Option<u32> {
        let mut n = self.root;
        while n != NIL {
            let node = &nodes[n as usize];
            if key == node.start {
                return Some(n);
            }
            n = if key < node.start { node.left } else { node.right };
        }
        None
    }

    /// The node with the largest start `<= key`.
    pub(crate) fn floor(&self, nodes: &[Node], key: u64) -> Option<u32> {
        let (mut n, mut best) = (self.root, NIL);
        while n != NIL {
            let node = &nodes[n as usize];
            if node.start <= key {
                best = n;
                n = node.right;
            } else {
                n = node.left;
            }
        }
        (best != NIL).then_some(best)
    }

    /// The node with the smallest start `> key`.
    pub(crate) fn above(&self, nodes: &[Node], key: u64) -> Option<u32> {
        let (mut n, mut best) = (self.root, NIL);
        while n != NIL {
            let node = &nodes[n as usize];
            if node.start > key {
                best = n;
                n = node.left;
            } else {
                n = node.right;
            }
        }
        (best != NIL).then_some(best)
    }

    /// The lowest node at least `len` long, in one root-to-node walk.
    pub(crate) fn first_fit(&self, nodes: &[Node], len: u64) -> Option<u32> {
        let mut n = self.root;
        while n != NIL && nodes[n as usize].max_len >= len {
            let node = &nodes[n as usize];
            if max_len(nodes, node.left) >= len {
                n = node.left;
            } else if node.len() >= len {
                return Some(n);
            } else {
                n = node.right;
            }
        }
        None
    }

    /// The lowest node at least `min_len` long that `accept` takes. Visits only
    /// subtrees holding a long-enough range: O(log n) plus the number of
    /// long-enough nodes `accept` turns down.
    pub(crate) fn first_match(
        &self,
        nodes: &[Node],
        min_len: u64,
        accept: impl Fn(&Node) -> bool,
    ) -> Option<u32> {
        let found = first_match_at(nodes, self.root, min_len, &accept);
        (found != NIL).then_some(found)
    }

    /// The longest range's length (0 for an empty tree).
    pub(crate) fn max_len(&self, nodes: &[Node]) -> u64 {
        max_len(nodes, self.root)
    }

    /// The nodes in increasing start order.
    pub(crate) fn iter<'a>(&self, nodes: &'a [Node]) -> Iter<'a> {
        let mut it = Iter { nodes, stack: [NIL; MAX_DEPTH], depth: 0 };
        it.push_left(self.root);
        it
    }

    /// Checks every invariant of the module doc; returns the node count.
    pub(crate) fn check(&self, nodes: &[Node]) -> Result<usize, &'static str> {
        check_at(nodes, self.root, 0, u64::MAX, 0).map(|(_, count)| count)
    }
}

/// In-order iterator over a tree's nodes, with a fixed-size stack.
pub(crate) struct Iter<'a> {
    nodes: &'a [Node],
    stack: [u32; MAX_DEPTH],
    depth: usize,
}

impl Iter<'_> {
    fn push_left(&mut self, mut n: u32) {
        while n != NIL && self.depth < MAX_DEPTH {
            self.stack[self.depth] = n;
            self.depth += 1;
            n = self.nodes[n as usize].left;
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Node;

    fn next(&mut self) -> Option<&'a Node> {
        if self.depth == 0 {
            return None;
        }
        self.depth -= 1;
        let node = &self.nodes[self.stack[self.depth] as usize];
        self.push_left(node.right);
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::pool::NodePool;

    fn build<const N: usize>(ranges: &[(u64, u64)]) -> (NodePool<N>, Tree) {
        let mut pool = NodePool::<N>::new();
        let mut tree = Tree::EMPTY;
        for &(s, e) in ranges {
            let idx = pool.take(s, e).unwrap();
            tree.insert(pool.nodes_mut(), idx);
            tree.check(pool.nodes()).unwrap();
        }
        (pool, tree)
    }

    fn starts(pool: &[Node], tree: &Tree) -> Vec<u64> {
        tree.iter(pool).map(|n| n.start).collect()
    }

    #[test]
    fn sorted_inserts_stay_balanced_and_iterate_in_order() {
        let ranges: Vec<(u64, u64)> = (0..1000).map(|i| (i * 10, i * 10 + 1 + i % 7)).collect();
        let (pool, tree) = build::<1000>(&ranges);
        assert_eq!(tree.check(pool.nodes()), Ok(1000));
        // 1000 nodes: an AVL tree is at most 1.44·log2(1002) ≈ 14.4 deep.
        assert!(pool.nodes().iter().map(|n| n.height).max().unwrap() <= 14);
        assert_eq!(starts(pool.nodes(), &tree), ranges.iter().map(|r| r.0).collect::<Vec<_>>());
        assert_eq!(tree.max_len(pool.nodes()), 7);
    }

    #[test]
    fn first_fit_is_the_lowest_long_enough_range() {
        let (pool, tree) = build::<8>(&[(40, 44), (10, 12), (60, 68), (0, 1), (20, 25), (90, 93)]);
        let start_of = |len| tree.first_fit(pool.nodes(), len).map(|i| pool.nodes()[i as usize].start);
        assert_eq!(start_of(1), Some(0));
        assert_eq!(start_of(2), Some(10));
        assert_eq!(start_of(3), Some(20));
        assert_eq!(start_of(5), Some(20));
        assert_eq!(start_of(6), Some(60));
        assert_eq!(start_of(8), Some(60));
        assert_eq!(start_of(9), None);
        let odd = tree.first_match(pool.nodes(), 3, |n| n.start % 2 == 1);
        assert_eq!(odd, None);
        let at_60 = tree.first_match(pool.nodes(), 3, |n| n.start >= 50);
        assert_eq!(at_60.map(|i| pool.nodes()[i as usize].start), Some(60));
    }

    #[test]
    fn remove_and_resize_keep_the_invariants() {
        let ranges: Vec<(u64, u64)> = (0..200).map(|i| (i * 10, i * 10 + 1 + (i * 37) % 9)).collect();
        let (mut pool, mut tree) = build::<200>(&ranges);
        for i in (0..200).step_by(3) {
            let idx = tree.remove(pool.nodes_mut(), i * 10).unwrap();
            pool.give_back(idx);
            tree.check(pool.nodes()).unwrap();
        }
        assert_eq!(tree.remove(pool.nodes_mut(), 0), None);
        assert_eq!(tree.remove(pool.nodes_mut(), 5), None);
        assert!(tree.set_bounds(pool.nodes_mut(), 10, 10, 19));
        assert!(!tree.set_bounds(pool.nodes_mut(), 11, 11, 12));
        assert_eq!(tree.check(pool.nodes()), Ok(133));
        assert_eq!(tree.max_len(pool.nodes()), 9);
        let idx = tree.find(pool.nodes(), 10).unwrap();
        assert_eq!(tree.first_fit(pool.nodes(), 9), Some(idx));
        assert!(tree.set_bounds(pool.nodes_mut(), 10, 15, 16));
        assert_eq!(tree.find(pool.nodes(), 10), None);
        assert_eq!(tree.find(pool.nodes(), 15), Some(idx));
        tree.check(pool.nodes()).unwrap();
        assert_eq!(tree.floor(pool.nodes(), 14).map(|i| pool.nodes()[i as usize].start), None);
        assert_eq!(tree.floor(pool.nodes(), 15), Some(idx));
        assert_eq!(tree.above(pool.nodes(), 15).map(|i| pool.nodes()[i as usize].start), Some(20));
        assert_eq!(tree.above(pool.nodes(), 1990), None);
        while let Some(n) = tree.iter(pool.nodes()).next().map(|n| n.start) {
            let idx = tree.remove(pool.nodes_mut(), n).unwrap();
            pool.give_back(idx);
            tree.check(pool.nodes()).unwrap();
        }
        assert!(tree.is_empty());
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn check_catches_a_stale_augmentation_and_bad_order() {
        let (mut pool, tree) = build::<4>(&[(10, 12), (20, 30), (0, 1)]);
        let idx = tree.find(pool.nodes(), 20).unwrap();
        pool.nodes_mut()[idx as usize].end = 21;
        assert_eq!(tree.check(pool.nodes()), Err("a tree node's largest-range augmentation is stale"));
        pool.nodes_mut()[idx as usize].start = 5;
        assert_eq!(tree.check(pool.nodes()), Err("tree starts are not in increasing order"));
    }
}
