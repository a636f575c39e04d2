//! Allocation behaviour for training: the backward passes allocate and free hundreds of megabytes
//! per step. glibc serves large blocks with fresh mmap pages (which the kernel must fault in and
//! clear on every step); keeping them in the heap instead lets freed blocks be reused.

/// Keeps large allocations in glibc's heap (no-op elsewhere).
pub fn reuse_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before the training threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
