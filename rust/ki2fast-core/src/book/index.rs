//! Order reference → order handle.
//!
//! References are unique per day and handed out nearly densely, so most of them live in a
//! paged direct index: a page table of 512-slot pages, each page allocated when its first
//! order arrives and recycled when its last order dies. A lookup is two dependent loads and
//! no hashing. References too large for the page table (never seen on real days) fall back to
//! a hash map, so correctness never depends on the density.

use std::collections::HashMap;

use crate::mem::{grow_huge, prefetch};

/// Marks an empty slot (and "no handle" everywhere in the book).
pub const NONE: u32 = u32::MAX;

const PAGE_BITS: u32 = 9;
const PAGE: usize = 1 << PAGE_BITS;
/// References below this are indexed directly (a page table of at most 8 M entries).
const DIRECT_LIMIT: u64 = 1 << 32;

/// `repr(C)`: the slots start the page, which the prefetch address relies on.
#[derive(Debug)]
#[repr(C)]
struct Page {
    slots: [u32; PAGE],
    live: u32,
}

/// The paged direct index with its overflow map. Pages live in one slab (so they share
/// huge pages) and the page table holds slab positions.
#[derive(Debug, Default)]
pub struct OrderIndex {
    /// Slab position of each page of references, or `NONE`.
    table: Vec<u32>,
    slab: Vec<Page>,
    spare: Vec<u32>,
    overflow: HashMap<u64, u32>,
    len: usize,
}

impl OrderIndex {
    /// An empty index.
    pub fn new() -> OrderIndex {
        OrderIndex::default()
    }

    /// Live references.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no reference is live.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The handle of a live reference.
    #[inline(always)]
    pub fn get(&self, reference: u64) -> Option<u32> {
        if reference < DIRECT_LIMIT {
            let p = *self.table.get((reference >> PAGE_BITS) as usize)?;
            if p == NONE {
                return None;
            }
            let slot = self.slab[p as usize].slots[reference as usize & (PAGE - 1)];
            (slot != NONE).then_some(slot)
        } else {
            self.overflow.get(&reference).copied()
        }
    }

    /// Asks the cache for the slot of `reference` ahead of a lookup (never faults, never
    /// changes anything).
    #[inline(always)]
    pub fn prefetch(&self, reference: u64) {
        if reference < DIRECT_LIMIT
            && let Some(&p) = self.table.get((reference >> PAGE_BITS) as usize)
            && p != NONE
        {
            prefetch(
                self.slab
                    .as_ptr()
                    .wrapping_add(p as usize)
                    .cast::<u32>()
                    .wrapping_add(reference as usize & (PAGE - 1)),
            );
        }
    }

    /// A clean page: a recycled one, or a new one in the slab. Once per 512 references.
    #[cold]
    fn new_page(&mut self) -> u32 {
        if let Some(p) = self.spare.pop() {
            return p;
        }
        if self.slab.len() == self.slab.capacity() {
            grow_huge(&mut self.slab);
        }
        self.slab.push(Page {
            slots: [NONE; PAGE],
            live: 0,
        });
        (self.slab.len() - 1) as u32
    }

    /// Maps `reference` to `handle`; returns the handle it replaced, if it was live.
    #[inline(always)]
    pub fn insert(&mut self, reference: u64, handle: u32) -> Option<u32> {
        debug_assert_ne!(handle, NONE);
        if reference >= DIRECT_LIMIT {
            let old = self.overflow.insert(reference, handle);
            self.len += usize::from(old.is_none());
            return old;
        }
        let page = (reference >> PAGE_BITS) as usize;
        if page >= self.table.len() {
            self.table.resize(page + 1, NONE);
        }
        if self.table[page] == NONE {
            self.table[page] = self.new_page();
        }
        let p = &mut self.slab[self.table[page] as usize];
        let slot = &mut p.slots[reference as usize & (PAGE - 1)];
        let old = *slot;
        *slot = handle;
        if old == NONE {
            p.live += 1;
            self.len += 1;
            None
        } else {
            Some(old)
        }
    }

    /// Unmaps `reference`; returns its handle if it was live.
    #[inline(always)]
    pub fn remove(&mut self, reference: u64) -> Option<u32> {
        if reference >= DIRECT_LIMIT {
            let old = self.overflow.remove(&reference);
            self.len -= usize::from(old.is_some());
            return old;
        }
        let page = (reference >> PAGE_BITS) as usize;
        let entry = self.table.get_mut(page)?;
        if *entry == NONE {
            return None;
        }
        let p = &mut self.slab[*entry as usize];
        let slot = &mut p.slots[reference as usize & (PAGE - 1)];
        let old = *slot;
        if old == NONE {
            return None;
        }
        *slot = NONE;
        p.live -= 1;
        self.len -= 1;
        if p.live == 0 {
            // Every slot is NONE again: the page can be reused as is.
            self.spare.push(*entry);
            *entry = NONE;
        }
        Some(old)
    }

    /// Pages currently allocated (for memory reports).
    pub fn pages_in_use(&self) -> usize {
        self.table.iter().filter(|&&p| p != NONE).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_and_overflow_references_map_and_unmap() {
        let mut ix = OrderIndex::new();
        for (r, h) in [(1u64, 10u32), (4097, 11), (1 << 40, 12), (u64::MAX, 13)] {
            assert_eq!(ix.insert(r, h), None);
            assert_eq!(ix.get(r), Some(h));
        }
        assert_eq!(ix.len(), 4);
        assert_eq!(ix.insert(1, 20), Some(10));
        assert_eq!(ix.remove(1), Some(20));
        assert_eq!(ix.get(1), None);
        assert_eq!(ix.remove(1), None);
        assert_eq!(ix.remove(1 << 40), Some(12));
        assert_eq!(ix.get(2), None);
        assert_eq!(ix.get(1 << 30), None);
        assert_eq!(ix.len(), 2);
    }

    #[test]
    fn an_emptied_page_is_recycled_clean() {
        let mut ix = OrderIndex::new();
        ix.insert(5, 1);
        ix.insert(6, 2);
        assert_eq!(ix.pages_in_use(), 1);
        ix.remove(5);
        ix.remove(6);
        assert_eq!(ix.pages_in_use(), 0);
        ix.insert(PAGE as u64 * 7 + 3, 9);
        assert_eq!(ix.pages_in_use(), 1);
        assert_eq!(ix.get(PAGE as u64 * 7 + 5), None);
        assert_eq!(ix.get(PAGE as u64 * 7 + 3), Some(9));
    }
}
