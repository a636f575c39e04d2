//! `mnv2`: MobileNetV2 from the command line. One subcommand per file; this file only dispatches
//! and turns errors into one line on stderr and an exit status.

mod args;
mod bench;
mod classify;
mod detect;
mod eval;
mod eval_det;
mod eval_seg;
mod export;
mod files;
mod info;
#[cfg(feature = "mpi")]
mod mpi;
mod progress;
mod quantize;
mod run;
mod segment;
mod serve;
mod train;
mod values;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`mnv2 info | head`), as command-line tools do.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = args::Cli::parse();
    let defaults = mnv2::Limits::DEFAULT;
    mnv2::Limits::set_global(mnv2::Limits {
        max_pixels: cli.max_pixels.unwrap_or(defaults.max_pixels),
        max_file_bytes: cli.max_file_bytes.unwrap_or(defaults.max_file_bytes),
        max_memory_bytes: cli.max_memory.unwrap_or(defaults.max_memory_bytes),
        ..defaults
    });
    let result = match cli.command {
        args::Command::Info(a) => info::main(a),
        args::Command::Classify(a) => classify::main(a),
        args::Command::Run(a) => run::main(a),
        args::Command::Quantize(a) => quantize::main(a),
        args::Command::Export(a) => export::main(a),
        args::Command::Bench(a) => bench::main(a),
        args::Command::Segment(a) => segment::main(a),
        args::Command::EvalSeg(a) => eval_seg::main(a),
        args::Command::Detect(a) => detect::main(a),
        args::Command::EvalDet(a) => eval_det::main(a),
        args::Command::Train(a) => train::classifier(a),
        args::Command::TrainDet(a) => train::detector(a),
        args::Command::Eval(a) => eval::main(a),
        args::Command::Serve(a) => serve::main(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mnv2: error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// `n` and the noun, singular or plural: "1 object", "3 objects".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// The error and its causes on one line.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}
