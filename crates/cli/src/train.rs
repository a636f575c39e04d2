//! `mnv2 train` (a classifier on an image folder: every layer, or a linear probe with
//! `--freeze-backbone`) and `mnv2 train-det` (an SSDLite detector): the options handed to
//! `mnv2::training`, its summary printed.

use crate::args::{TrainArgs, TrainDetArgs};
use mnv2::training::{ClassifierSettings, DetectorSettings};
use std::process::ExitCode;

pub fn classifier(a: TrainArgs) -> anyhow::Result<ExitCode> {
    mnv2::train::use_threads(a.run.threads);
    let mpi = a.mpi;
    let settings = ClassifierSettings {
        data: a.data,
        val: a.val,
        init: a.init,
        freeze_backbone: a.freeze_backbone,
        width: a.width,
        resolution: a.resolution,
        label_smoothing: a.label_smoothing,
        min_crop_area: a.min_crop_area,
        run: a.run.settings(a.epochs, a.batch),
    };
    if !mpi {
        return finish(mnv2::training::train_classifier(&settings, &mut crate::progress::Bar::default())?);
    }
    #[cfg(feature = "mpi")]
    return crate::mpi::run(|processes| {
        // Rank 0 reports; the others train silently.
        let (mut bar, mut silent) = (crate::progress::Bar::default(), mnv2::train::Silent);
        let progress: &mut dyn mnv2::train::Progress = if processes.lead() { &mut bar } else { &mut silent };
        let run = mnv2::training::RunSettings { processes, ..settings.run };
        finish(mnv2::training::train_classifier(&ClassifierSettings { run, ..settings }, progress)?)
    });
    #[cfg(not(feature = "mpi"))]
    anyhow::bail!("this mnv2 was built without MPI: build it with `cargo build --release --features mpi`")
}

pub fn detector(a: TrainDetArgs) -> anyhow::Result<ExitCode> {
    mnv2::train::use_threads(a.run.threads);
    let settings = DetectorSettings {
        data: a.data,
        images: a.images,
        holdout: a.holdout,
        init: a.init,
        resolution: a.resolution,
        zoom_out: a.zoom_out,
        focal: a.focal,
        run: a.run.settings(a.epochs, a.batch),
    };
    finish(mnv2::training::train_detector(&settings, &mut crate::progress::Bar::default())?)
}

/// Prints the summary of a run (None: a resumed run had nothing to do and said so).
fn finish(summary: Option<String>) -> anyhow::Result<ExitCode> {
    if let Some(line) = summary {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
