//! Helpers shared by the CLI tests: where ../shared is and how to run the binary.
#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;
use std::process::{Command, Output};

#[allow(unused_imports)] // each test file uses a different subset
pub use mnv2_testdata::{shared, shared_file};

/// Runs `mnv2` with `args`, ignoring any model the environment points at.
pub fn mnv2(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnv2"))
        .args(args)
        .env_remove("MNV2_MODEL")
        .env_remove("MNV2_MODEL_DIR")
        .output()
        .expect("run mnv2")
}

/// The path of `../shared/models/{name}.tflite`.
pub fn model(name: &str) -> String {
    shared_file(format!("models/{name}.tflite")).display().to_string()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh empty folder under the system's temporary folder, unique to this process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mnv2-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What a finished `mnv2` run gave: its output, and its peak resident memory in kilobytes.
pub struct Measured {
    pub output: Output,
    pub max_rss_kb: u64,
}

/// Runs `mnv2` with `args` as [`mnv2`] does, also reading the child's own peak RSS (wait4's
/// rusage for that one process, not every child of the test binary).
#[cfg(unix)]
#[allow(clippy::zombie_processes)] // the child is reaped by wait4, which clippy does not see
pub fn mnv2_measured(args: &[&str]) -> Measured {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mnv2"))
        .args(args)
        .env_remove("MNV2_MODEL")
        .env_remove("MNV2_MODEL_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mnv2");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).map(|_| v).unwrap_or_default()
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).map(|_| v).unwrap_or_default()
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals passed by pointer; the child
    // is not waited for elsewhere (`child` is dropped without wait).
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4");
    Measured {
        output: Output {
            status: std::process::ExitStatus::from_raw(status),
            stdout: out_reader.join().unwrap(),
            stderr: err_reader.join().unwrap(),
        },
        max_rss_kb: usage.ru_maxrss as u64,
    }
}

/// The first `n` images (by name) of two flower classes, copied into `dir/split/class`.
pub fn flowers(dir: &std::path::Path, split: &str, n: usize) -> PathBuf {
    let root = dir.join(split);
    for class in ["daisy", "sunflowers"] {
        let src = shared_file("datasets/flowers").join(split).join(class);
        std::fs::create_dir_all(root.join(class)).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.into_iter().take(n) {
            std::fs::copy(&f, root.join(class).join(f.file_name().unwrap())).unwrap();
        }
    }
    root
}
