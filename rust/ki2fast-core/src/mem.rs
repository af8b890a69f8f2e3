//! Memory hints shared by the hot loops: cache prefetches and transparent huge pages.

/// Whether to ask for transparent huge pages (on unless `KI2FAST_NO_THP` is set: on
/// machines where the kernel compacts memory synchronously for them, a loaded system can
/// stall on a fault now and then).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn huge_pages() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("KI2FAST_NO_THP").is_none())
}

/// Hints the cache to load the line holding `*p`. A hint only: it never faults and has no
/// visible effect, so a wrong guess costs a little bandwidth and nothing else.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is an SSE instruction (always present on x86_64) that never faults,
    // whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Doubles `v`'s capacity and asks for transparent huge pages on its buffer. The pools and
/// the index are read at random: with 4 KiB pages a deep day misses the TLB on most order
/// lookups, with 2 MiB pages a few hundred entries cover every structure. Output columns
/// grown row by row gain too: 2 MiB pages cut their page faults by a factor of 512. A hint
/// only; where the kernel says no (or `KI2FAST_NO_THP` is set) nothing changes.
#[cold]
#[inline(never)]
pub fn grow_huge<T>(v: &mut Vec<T>) {
    v.reserve(v.capacity().max(64));
    advise_huge(v);
}

/// Appends `x`, growing `v` with [`grow_huge`] when it is full.
#[inline(always)]
pub fn push_huge<T>(v: &mut Vec<T>, x: T) {
    if v.len() == v.capacity() {
        grow_huge(v);
    }
    v.push(x);
}

/// Makes room for `extra` more values in `v`, its buffer advised as in [`grow_huge`].
pub fn reserve_huge<T>(v: &mut Vec<T>, extra: usize) {
    if v.capacity() - v.len() < extra {
        v.reserve(extra);
        advise_huge(v);
    }
}

/// An empty vector with room for `cap` values, its buffer advised as in [`grow_huge`].
pub fn with_capacity_huge<T>(cap: usize) -> Vec<T> {
    let v = Vec::with_capacity(cap);
    advise_huge(&v);
    v
}

/// Asks for transparent huge pages on the whole 2 MiB pages inside `v`'s buffer.
fn advise_huge<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let end = start + v.capacity() * std::mem::size_of::<T>();
        let (lo, hi) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
        if hi > lo && huge_pages() {
            // SAFETY: [lo, hi) lies inside the vector's own allocation; MADV_HUGEPAGE only
            // changes how the kernel backs those pages, never their contents.
            unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}
