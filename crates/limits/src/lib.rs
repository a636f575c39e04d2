//! Caps on every size that comes from outside mnv2 (a file, an image header, a command-line
//! argument, a request), checked before anything of that size is allocated or started.
//!
//! The caps live in one process-wide [`Limits`] value: [`Limits::global`] reads it (the
//! documented defaults until [`Limits::set_global`] changes them), so that deep callers such as
//! the image decoder need no extra parameter. Front ends set it once at start-up from their
//! flags; code that needs other caps for one call passes a `Limits` explicitly.
//!
//! ```
//! let limits = mnv2_limits::Limits::global();
//! assert_eq!(limits.max_pixels, 1 << 26); // 8192 x 8192
//! assert!(limits.check_pixels(8192, 8192).is_ok());
//! assert!(limits.check_pixels(100_000, 100_000).is_err());
//! ```

mod read;

pub use read::read_file;

use std::sync::RwLock;
use thiserror::Error;

/// A size from outside that mnv2 refuses, or a file it cannot read.
#[derive(Debug, Error)]
pub enum LimitError {
    #[error(
        "image is {width}x{height} = {} pixels, more than the limit of {max} (set --max-pixels or \
         MNV2_MAX_PIXELS to allow more)",
        *.width as u64 * *.height as u64
    )]
    Pixels { width: u32, height: u32, max: u64 },
    #[error("{path} is {bytes} bytes, more than the limit of {max} for {what}")]
    FileSize { path: String, bytes: u64, max: u64, what: &'static str },
    #[error("{path} is not a regular file (a folder, device or pipe)")]
    NotAFile { path: String },
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{requested} threads is more than the limit of {max} (4x the {cores} cores of this machine)")]
    Threads { requested: usize, max: usize, cores: usize },
    #[error(
        "a batch of {batch} needs {bytes} bytes of activations, more than the limit of {max} \
         (use a smaller batch, or set --max-memory or MNV2_MAX_MEMORY to allow more)"
    )]
    Memory { batch: usize, bytes: u64, max: u64 },
}

/// The caps. Every field is an upper bound; [`Limits::DEFAULT`] documents the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Pixels of a decoded image (width x height), checked from the header before decoding.
    pub max_pixels: u64,
    /// Bytes of an image, `.npy`, labels or dataset file, checked before reading.
    pub max_file_bytes: u64,
    /// Bytes of activation memory for one batch (an engine session and its input buffer).
    pub max_memory_bytes: u64,
    /// Worker threads, as a multiple of the machine's cores.
    pub threads_per_core: usize,
}

impl Limits {
    /// 64 Mi pixels (8192 x 8192: 192 MiB as RGB), 256 MiB files, 8 GiB of activations (a batch
    /// of about 3,000 fp32 images at 224x224), 4 threads per core.
    pub const DEFAULT: Limits =
        Limits { max_pixels: 1 << 26, max_file_bytes: 256 << 20, max_memory_bytes: 8 << 30, threads_per_core: 4 };

    /// The process-wide caps.
    pub fn global() -> Limits {
        *GLOBAL.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the process-wide caps.
    pub fn set_global(limits: Limits) {
        *GLOBAL.write().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    /// The bytes of the regular file at `path` within `max_file_bytes` (see [`read_file`]).
    pub fn read_file(&self, path: &std::path::Path, what: &'static str) -> Result<Vec<u8>, LimitError> {
        read_file(path, self.max_file_bytes, what)
    }

    /// Refuses an image of more than `max_pixels`.
    pub fn check_pixels(&self, width: u32, height: u32) -> Result<(), LimitError> {
        if width as u64 * height as u64 > self.max_pixels {
            return Err(LimitError::Pixels { width, height, max: self.max_pixels });
        }
        Ok(())
    }

    /// The number of worker threads for a request of `requested` (0: one per core), refused
    /// above `threads_per_core` x the cores.
    pub fn threads(&self, requested: usize) -> Result<usize, LimitError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let max = cores.saturating_mul(self.threads_per_core).max(1);
        match requested {
            0 => Ok(cores),
            n if n > max => Err(LimitError::Threads { requested: n, max, cores }),
            n => Ok(n),
        }
    }

    /// Refuses a batch whose buffers would take more than `max_memory_bytes` (`bytes` is None
    /// when the size overflowed a `usize`).
    pub fn check_memory(&self, batch: usize, bytes: Option<usize>) -> Result<(), LimitError> {
        let bytes = bytes.map_or(u64::MAX, |b| b as u64);
        if bytes > self.max_memory_bytes {
            return Err(LimitError::Memory { batch, bytes, max: self.max_memory_bytes });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

static GLOBAL: RwLock<Limits> = RwLock::new(Limits::DEFAULT);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_are_capped_without_overflow() {
        let l = Limits { max_pixels: 100, ..Limits::DEFAULT };
        assert!(l.check_pixels(10, 10).is_ok());
        assert!(l.check_pixels(101, 1).is_err());
        assert!(l.check_pixels(u32::MAX, u32::MAX).is_err());
        let msg = l.check_pixels(20, 10).unwrap_err().to_string();
        assert!(msg.contains("20x10 = 200 pixels") && msg.contains("limit of 100"), "{msg}");
    }

    #[test]
    fn threads_zero_means_cores_and_huge_counts_are_refused() {
        let cores = std::thread::available_parallelism().unwrap().get();
        let l = Limits::DEFAULT;
        assert_eq!(l.threads(0).unwrap(), cores);
        assert_eq!(l.threads(4 * cores).unwrap(), 4 * cores);
        let msg = l.threads(100_000).unwrap_err().to_string();
        assert!(msg.contains("100000 threads") && msg.contains(&format!("limit of {}", 4 * cores)), "{msg}");
    }

    #[test]
    fn memory_overflow_is_refused() {
        let l = Limits { max_memory_bytes: 1000, ..Limits::DEFAULT };
        assert!(l.check_memory(1, Some(1000)).is_ok());
        assert!(l.check_memory(2, Some(1001)).is_err());
        assert!(l.check_memory(3, None).unwrap_err().to_string().contains("batch of 3"));
    }
}
