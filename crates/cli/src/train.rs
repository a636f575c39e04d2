//! `mnv2 train` (a classifier on an image folder: every layer, or a linear probe with
//! `--freeze-backbone`) and `mnv2 train-det` (an SSDLite detector): the options handed to
//! `mnv2::training`, its summary printed.

use crate::args::{TrainArgs, TrainDetArgs};
use mnv2::training::{ClassifierSettings, DetectorSettings};
use std::process::ExitCode;

pub fn classifier(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let settings = ClassifierSettings {
        data: a.data,
        val: a.val,
        init: a.init,
        freeze_backbone: a.freeze_backbone,
        width: a.width,
        resolution: a.resolution,
        label_smoothing: a.label_smoothing,
        run: a.run.settings(a.epochs, a.batch),
    };
    finish(mnv2::training::train_classifier(&settings, &mut crate::progress::Bar::default())?)
}

pub fn detector(a: TrainDetArgs) -> anyhow::Result<ExitCode> {
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
