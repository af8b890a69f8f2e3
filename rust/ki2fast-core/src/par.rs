//! Fork-join helpers over scoped threads.

/// `f` over every item, each in its own thread (the first in the calling thread); the
/// results in item order. A panic in any of them is resumed here.
pub(crate) fn in_parallel<T: Send, R: Send>(
    items: &mut [T],
    f: impl Fn(&mut T) -> R + Sync,
) -> Vec<R> {
    let Some((first, rest)) = items.split_first_mut() else {
        return Vec::new();
    };
    let f = &f;
    std::thread::scope(|scope| {
        let others: Vec<_> = rest.iter_mut().map(|x| scope.spawn(move || f(x))).collect();
        let mut out = vec![f(first)];
        out.extend(others.into_iter().map(join));
        out
    })
}

/// The result of a scoped thread; its panic, resumed.
pub(crate) fn join<R>(handle: std::thread::ScopedJoinHandle<'_, R>) -> R {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
