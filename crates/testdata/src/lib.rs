//! Where the tests find the files they check against: `../shared` beside the checkout (models,
//! images, datasets and the reference outputs of other implementations), or `$MNV2_SHARED`.
//! A missing file fails the test with one line that names it and says where the files come from.

use std::path::{Path, PathBuf};

/// The shared folder: `$MNV2_SHARED`, else `shared` beside the checkout.
pub fn shared() -> PathBuf {
    std::env::var_os("MNV2_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// `shared()/rel`, which must exist.
#[track_caller]
pub fn shared_file(rel: impl AsRef<Path>) -> PathBuf {
    let path = shared().join(rel.as_ref());
    if !path.exists() {
        panic!("{}", missing(&path));
    }
    path
}

/// The one-line message for a missing shared file.
pub fn missing(path: &Path) -> String {
    format!(
        "missing {}: the tests read models, images, datasets and reference outputs from ../shared \
         beside the checkout (or the folder $MNV2_SHARED names)",
        path.display()
    )
}

/// CRC-32 (IEEE), bit by bit, as PNG chunks use it (for making hostile PNGs).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// A 45-byte PNG whose header declares `w` x `h` RGB pixels and which holds no pixel data: a
/// decompression bomb's header, to be refused before anything of that size is allocated.
pub fn png_header_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    png.extend_from_slice(&[0, 0, 0, 0]);
    png.extend_from_slice(b"IEND");
    png.extend_from_slice(&crc32(b"IEND").to_be_bytes());
    png
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc_of_iend_is_the_known_one() {
        // Every PNG ends with IEND and this CRC.
        assert_eq!(super::crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    #[should_panic(expected = "missing")]
    fn a_missing_file_is_named() {
        super::shared_file("no/such/file.tflite");
    }
}
