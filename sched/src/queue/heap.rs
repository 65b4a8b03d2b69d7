//! [`Heap`]: a binary heap ordered by a comparator chosen at run time (the profile's
//! QueueSort plugin), which `std::collections::BinaryHeap` cannot take.
//!
//! ```ignore
//! let mut h = Heap::new(std::sync::Arc::new(|a: &i32, b: &i32| a < b));
//! for x in [5, 1, 3] { h.push(x); }
//! assert_eq!(h.pop(), Some(1));
//! ```

use std::sync::Arc;

/// "`a` goes before `b`".
pub type Less<T> = Arc<dyn Fn(&T, &T) -> bool + Send + Sync>;

/// A min-heap under `less`.
pub struct Heap<T> {
    items: Vec<T>,
    less: Less<T>,
}

impl<T> Heap<T> {
    /// An empty heap.
    pub fn new(less: Less<T>) -> Self {
        Heap {
            items: Vec::new(),
            less,
        }
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Adds an item.
    pub fn push(&mut self, item: T) {
        self.items.push(item);
        let mut i = self.items.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if (self.less)(&self.items[i], &self.items[parent]) {
                self.items.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    /// The items, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }

    /// Removes and returns the first item.
    pub fn pop(&mut self) -> Option<T> {
        if self.items.is_empty() {
            return None;
        }
        let last = self.items.len() - 1;
        self.items.swap(0, last);
        let top = self.items.pop();
        let n = self.items.len();
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < n && (self.less)(&self.items[l], &self.items[best]) {
                best = l;
            }
            if r < n && (self.less)(&self.items[r], &self.items[best]) {
                best = r;
            }
            if best == i {
                break;
            }
            self.items.swap(i, best);
            i = best;
        }
        top
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_order() {
        let mut h = Heap::new(Arc::new(|a: &i32, b: &i32| a > b));
        for x in [5, 1, 9, 3, 3, 7] {
            h.push(x);
        }
        let mut out = Vec::new();
        while let Some(x) = h.pop() {
            out.push(x);
        }
        assert_eq!(out, vec![9, 7, 5, 3, 3, 1]);
    }
}
