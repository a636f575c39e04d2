//! Reading a whole file with a cap on its size, refusing what is not a regular file.

use crate::LimitError;
use std::io::Read;
use std::path::Path;

/// The bytes of the regular file at `path` if it has at most `max` of them. Devices, pipes and
/// folders are refused (`/dev/zero` would never end), and a file that grows past `max` while it
/// is read is refused too. `what` names the kind of file in the message ("an image").
pub fn read_file(path: &Path, max: u64, what: &'static str) -> Result<Vec<u8>, LimitError> {
    let shown = || path.display().to_string();
    let io = |source| LimitError::Io { path: shown(), source };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(LimitError::NotAFile { path: shown() });
    }
    let too_big = |bytes| LimitError::FileSize { path: shown(), bytes, max, what };
    if meta.len() > max {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path).map_err(io)?.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_folders_and_large_files_are_refused() {
        let err = read_file(Path::new("/dev/zero"), 1 << 20, "an image").unwrap_err();
        assert!(matches!(err, LimitError::NotAFile { .. }), "{err}");
        let dir = std::env::temp_dir();
        assert!(matches!(read_file(&dir, 1 << 20, "an image"), Err(LimitError::NotAFile { .. })));
        let file = dir.join(format!("mnv2-limits-{}.bin", std::process::id()));
        std::fs::write(&file, [7u8; 100]).unwrap();
        assert_eq!(read_file(&file, 100, "an image").unwrap(), vec![7u8; 100]);
        let msg = read_file(&file, 99, "an image").unwrap_err().to_string();
        assert!(msg.contains("is 100 bytes") && msg.contains("limit of 99 for an image"), "{msg}");
        std::fs::remove_file(&file).ok();
        assert!(matches!(read_file(&file, 99, "an image"), Err(LimitError::Io { .. })));
    }
}
