//! `mpirun -np 2 mnv2 train --mpi` (one thread per rank) against one process of two threads on
//! the same global batch: the same model and training state, byte for byte, also when the MPI
//! run stops after an epoch and is resumed. Built with `--features mpi` and run by
//! `tools/mpi.sh` (which installs OpenMPI).
#![cfg(feature = "mpi")]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Four images of each of two flower classes.
fn images(root: &Path) -> PathBuf {
    let dir = root.join("train");
    for class in ["daisy", "roses"] {
        let src = shared_file("datasets/flowers/train").join(class);
        std::fs::create_dir_all(dir.join(class)).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.into_iter().take(4) {
            std::fs::copy(&f, dir.join(class).join(f.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// `mnv2 train` from the ImageNet model: 2 epochs of batches of 4 (2 steps each), `extra` added.
fn train_args<'a>(data: &'a str, init: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["train", "--data", data, "--val", data, "--init", init, "--batch", "4", "--epochs", "2"];
    a.extend(["-o", out]);
    a.extend(extra);
    a
}

/// `mpirun -np 2` of the binary with `args`, one thread per rank.
fn mpirun(args: &[&str]) {
    let o = Command::new("mpirun")
        .args(["-np", "2", "--oversubscribe"])
        .arg(env!("CARGO_BIN_EXE_mnv2"))
        .args(args)
        .args(["--mpi", "--threads", "1"])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env_remove("MNV2_MODEL")
        .output()
        .expect("run mpirun (OpenMPI: tools/mpi.sh installs it)");
    assert!(o.status.success(), "mpirun failed:\n{}\n{}", text(&o.stdout), text(&o.stderr));
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

#[test]
fn two_ranks_train_the_same_bits_as_two_threads() {
    let root = temp_dir("mpi");
    let data = images(&root);
    let init = shared_file("models/mobilenet_v2_1.0_224_quant.tflite");
    let (d, i) = (data.to_str().unwrap(), init.to_str().unwrap());
    let out = |name: &str| root.join(name).join("m.safetensors");
    let state = |name: &str| root.join(name).join("m.train.safetensors");
    let (one, two, split, ranks) = (out("one"), out("two"), out("split"), out("ranks"));
    for (path, threads) in [(&one, "1"), (&two, "2")] {
        let o = mnv2(&train_args(d, i, path.to_str().unwrap(), &["--threads", threads]));
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    mpirun(&train_args(d, i, ranks.to_str().unwrap(), &[]));
    assert!(same_bytes(&two, &ranks), "2 ranks of 1 thread trained other weights than 1 process of 2 threads");
    assert!(same_bytes(&state("two"), &state("ranks")), "the training states differ");
    // One thread sums in another order: other bits (so the equality above says something).
    assert!(!same_bytes(&one, &ranks), "one thread gave the bits of two");

    // Stopped after the first epoch and resumed, still under MPI: the same bits again.
    mpirun(&train_args(d, i, split.to_str().unwrap(), &["--stop-after", "1"]));
    mpirun(&train_args(d, i, split.to_str().unwrap(), &["--resume"]));
    assert!(same_bytes(&ranks, &split), "a resumed MPI run differs from an uninterrupted one");
    let metrics = std::fs::read_to_string(root.join("ranks").join("m.metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "rank 0 writes one metrics line per epoch:\n{metrics}");
    let _ = std::fs::remove_dir_all(&root);
}
