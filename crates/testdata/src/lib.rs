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

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "missing")]
    fn a_missing_file_is_named() {
        super::shared_file("no/such/file.tflite");
    }
}
