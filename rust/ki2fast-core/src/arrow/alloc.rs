//! Memory for decoded columns. A column is written by row index into zeroed memory sized
//! for its whole batch, then handed to Arrow without a copy.
//!
//! Large columns come straight from the OS as anonymous mappings with transparent huge
//! pages requested: fresh mappings are already zero (no memset, unlike a reused heap
//! chunk), and 2 MiB pages cut the page faults of filling hundreds of megabytes of output
//! by a factor of 512, which on a day file is most of the kernel time of a read. Small
//! columns use the heap.

use std::marker::PhantomData;
use std::panic::RefUnwindSafe;
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_buffer::{ArrowNativeType, Buffer, ScalarBuffer};
use memmap2::MmapMut;

/// Columns at least this large (in bytes) are mapped rather than heap-allocated.
const MAP_THRESHOLD: usize = 1 << 20;

/// An anonymous mapping owned by the Arrow buffers made from it (held for its `Drop`).
struct Mapping(#[allow(dead_code)] MmapMut);

// The mapping is only read through the buffers once handed over; unwinding cannot leave
// it in a broken state.
impl RefUnwindSafe for Mapping {}

enum Owner<T> {
    Heap(Vec<T>),
    Mapped(Mapping),
}

/// A fixed-capacity, zero-initialised column of `T`.
pub struct ColumnVec<T: ArrowNativeType> {
    owner: Owner<T>,
    ptr: NonNull<T>,
    cap: usize,
    _t: PhantomData<T>,
}

// SAFETY: a `ColumnVec` exclusively owns its memory, like a `Vec<T>`.
unsafe impl<T: ArrowNativeType> Send for ColumnVec<T> {}
// SAFETY: shared access only reads, like `&Vec<T>`.
unsafe impl<T: ArrowNativeType> Sync for ColumnVec<T> {}

impl<T: ArrowNativeType> std::fmt::Debug for ColumnVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.owner {
            Owner::Heap(_) => "heap",
            Owner::Mapped(_) => "mapped",
        };
        write!(
            f,
            "ColumnVec<{}>({} rows, {kind})",
            std::any::type_name::<T>(),
            self.cap
        )
    }
}

impl<T: ArrowNativeType> ColumnVec<T> {
    /// `cap` zeroed values.
    pub fn zeroed(cap: usize) -> ColumnVec<T> {
        let bytes = cap * std::mem::size_of::<T>();
        if bytes >= MAP_THRESHOLD
            && let Ok(mut map) = MmapMut::map_anon(bytes)
        {
            #[cfg(target_os = "linux")]
            if crate::mem::huge_pages() {
                let _ = map.advise(memmap2::Advice::HugePage);
            }
            // Page-aligned, so aligned for any native type.
            let ptr = NonNull::new(map.as_mut_ptr().cast::<T>()).unwrap_or(NonNull::dangling());
            return ColumnVec {
                owner: Owner::Mapped(Mapping(map)),
                ptr,
                cap,
                _t: PhantomData,
            };
        }
        let mut v = vec![T::default(); cap];
        let ptr = NonNull::new(v.as_mut_ptr()).unwrap_or(NonNull::dangling());
        ColumnVec {
            owner: Owner::Heap(v),
            ptr,
            cap,
            _t: PhantomData,
        }
    }

    /// Rows that fit.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The whole column, writable.
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: `ptr` points to `cap` initialised (zeroed or written) values owned by
        // `self.owner`, which never moves its allocation; `&mut self` makes this unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }

    /// The whole column.
    #[inline(always)]
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: as in `as_mut_slice`, for shared access.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.cap) }
    }

    /// Writes row `row` (`row < capacity`, checked).
    #[inline(always)]
    pub fn set(&mut self, row: usize, v: T) {
        self.as_mut_slice()[row] = v;
    }

    /// The first `rows` values as an Arrow buffer, without copying.
    pub fn into_buffer(self, rows: usize) -> ScalarBuffer<T> {
        let rows = rows.min(self.cap);
        match self.owner {
            Owner::Heap(mut v) => {
                v.truncate(rows);
                if v.capacity() > 2 * rows + 64 {
                    v.shrink_to_fit();
                }
                ScalarBuffer::from(v)
            }
            Owner::Mapped(map) => {
                let len = rows * std::mem::size_of::<T>();
                // SAFETY: `ptr` is the start of the mapping, valid for `cap >= rows` values,
                // and the mapping moves into the buffer as its owner, so it lives as long as
                // every buffer sliced from it.
                let buffer =
                    unsafe { Buffer::from_custom_allocation(self.ptr.cast(), len, Arc::new(map)) };
                ScalarBuffer::new(buffer, 0, rows)
            }
        }
    }

    /// A column filled from an iterator of exactly `n` values.
    pub fn collect(n: usize, values: impl IntoIterator<Item = T>) -> ScalarBuffer<T> {
        let mut col = ColumnVec::zeroed(n);
        let mut rows = 0;
        for (slot, v) in col.as_mut_slice().iter_mut().zip(values) {
            *slot = v;
            rows += 1;
        }
        col.into_buffer(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_columns_hand_over_their_rows() {
        for cap in [10usize, 1 << 20] {
            let mut c = ColumnVec::<u32>::zeroed(cap);
            assert!(c.as_slice().iter().all(|&v| v == 0));
            for i in 0..5 {
                c.set(i, i as u32 * 3);
            }
            let b = c.into_buffer(5);
            assert_eq!(&b[..], &[0, 3, 6, 9, 12]);
        }
        let b = ColumnVec::<i64>::collect(3, [7, 8, 9]);
        assert_eq!(&b[..], &[7, 8, 9]);
    }
}
