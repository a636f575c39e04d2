//! `mnv2 train` killed with SIGKILL at random moments: after every kill the last checkpoint is a
//! model the other commands load, and resuming until done ends with exactly the model of an
//! uninterrupted run (checkpoints are written atomically, and a resumed run repeats an epoch whose
//! state was not saved).

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A small from-scratch run (every layer trained, about 0.1 s an epoch), writing to `out`.
fn train(train: &Path, val: &Path, out: &Path, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mnv2"));
    c.args(["train", "--data", train.to_str().unwrap(), "--val", val.to_str().unwrap()]);
    c.args(["--width", "0.35", "--resolution", "96", "--batch", "4", "--epochs", "12", "--seed", "7"]);
    c.args(["--ema", "0.9", "--threads", "1", "-o", out.to_str().unwrap()]);
    if resume {
        c.arg("--resume");
    }
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

/// `n` moments between 5% and 35% of `max` (so that each run is killed before it can finish,
/// even on a host that speeds up), xorshift64*, seeded from the clock (the seed is printed so a failure can be replayed with
/// MNV2_KILL_SEED).
fn kill_times(n: usize, max: Duration) -> Vec<Duration> {
    let seed = std::env::var("MNV2_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("kill times from MNV2_KILL_SEED={seed}");
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let u = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            max.mul_f64(0.05 + 0.30 * u)
        })
        .collect()
}

#[test]
fn killed_training_resumes_to_the_uninterrupted_result() {
    let dir = temp_dir("kill");
    let (tr, va) = (flowers(&dir, "train", 8), flowers(&dir, "val", 2));
    let whole = dir.join("whole/model.safetensors");
    let started = Instant::now();
    let out = train(&tr, &va, &whole, false).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let full_time = started.elapsed();

    let killed = dir.join("killed/model.safetensors");
    let state = dir.join("killed/model.train.safetensors");
    let mut kills = 0;
    for wait in kill_times(5, full_time) {
        let mut child = train(&tr, &va, &killed, state.exists()).spawn().unwrap();
        let t = Instant::now();
        while t.elapsed() < wait && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let status = child.wait().unwrap();
        assert!(status.success() || status.code().is_none(), "exit {status:?}");
        // Whatever the moment, the last checkpoint is a whole model.
        if killed.exists() {
            let info = mnv2(&["info", "--model", killed.to_str().unwrap(), "--json"]);
            assert!(info.status.success(), "checkpoint after a kill: {}", text(&info.stderr));
        }
    }
    eprintln!("{kills} runs killed (an uninterrupted run took {full_time:?})");
    assert!(kills >= 2, "only {kills} runs were killed before they ended");
    // Resume until done.
    let out = train(&tr, &va, &killed, state.exists()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        std::fs::read(&whole).unwrap() == std::fs::read(&killed).unwrap(),
        "the resumed model differs from the uninterrupted one"
    );
    let metrics = std::fs::read_to_string(dir.join("killed/model.metrics.jsonl")).unwrap();
    let epochs: Vec<u64> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, (1..=12).collect::<Vec<u64>>(), "one metrics line per epoch, in order");
    std::fs::remove_dir_all(&dir).ok();
}
