//! `mnv2 eval`: top-1 / top-5 accuracy and the confusion matrix on an image folder.

use crate::args::EvalArgs;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mnv2::train::data::ImageFolder;
use mnv2::{Classifier, Options};
use serde_json::json;
use std::process::ExitCode;

pub fn main(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => mnv2::default_model_path()?,
    };
    let options = Options { threads: a.threads, precision: a.precision, ..Options::default() };
    let mut c = Classifier::load(&model_path, options).with_context(|| format!("loading {}", model_path.display()))?;
    let set = ImageFolder::open(&a.data).map_err(anyhow::Error::msg)?;
    // Folder names to the model's output indices.
    let index: Vec<usize> = set
        .classes
        .iter()
        .map(|name| (0..c.labels().len()).find(|&i| c.labels().get(i) == name))
        .collect::<Option<_>>()
        .with_context(|| format!("the class folders {:?} are not all labels of the model", set.classes))?;
    if set.items.is_empty() {
        bail!("no images in {}", a.data.display());
    }
    let k = set.classes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    let (mut top1, mut top5) = (0usize, 0usize);
    let bar = ProgressBar::new(set.items.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} images eta {eta}").expect("valid template"));
    let mut failed = 0usize;
    for chunk in set.items.chunks(16) {
        // An image that cannot be read is one error line; the others are scored.
        let (mut truths, mut images) = (Vec::with_capacity(chunk.len()), Vec::with_capacity(chunk.len()));
        for (path, truth) in chunk {
            match mnv2::image::load_rgb(path) {
                Ok(img) => {
                    truths.push(*truth);
                    images.push(img);
                }
                Err(e) => {
                    failed += 1;
                    bar.suspend(|| eprintln!("mnv2: error: {e}"));
                }
            }
        }
        for (truth, preds) in truths.iter().zip(c.classify(&images, 5)?) {
            let want = index[*truth];
            top1 += (preds[0].index == want) as usize;
            top5 += preds.iter().any(|p| p.index == want) as usize;
            if let Some(col) = index.iter().position(|&i| i == preds[0].index) {
                confusion[*truth][col] += 1;
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let scored = set.items.len() - failed;
    if scored == 0 {
        bail!("none of the {} images in {} could be read", set.items.len(), a.data.display());
    }
    let n = scored as f64;
    if a.json {
        println!(
            "{}",
            json!({"images": scored, "failed": failed, "top1": top1 as f64 / n, "top5": top5 as f64 / n, "classes": set.classes, "confusion": confusion})
        );
    } else {
        println!(
            "{} on {}: top-1 {:.2}%, top-5 {:.2}%",
            model_path.display(),
            crate::count(scored, "image"),
            100.0 * top1 as f64 / n,
            100.0 * top5 as f64 / n
        );
        println!("confusion (rows: truth, columns: prediction)");
        let width = set.classes.iter().map(String::len).max().unwrap_or(5).max(5);
        print!("{:>width$}", "");
        for name in &set.classes {
            print!(" {:>width$}", name);
        }
        println!();
        for (name, row) in set.classes.iter().zip(&confusion) {
            print!("{name:>width$}");
            for v in row {
                print!(" {v:>width$}");
            }
            println!();
        }
    }
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
