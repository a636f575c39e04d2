//! `mnv2 eval`: top-1 / top-5 accuracy and the confusion matrix on an image folder.

use crate::args::EvalArgs;
use anyhow::{Context, bail};
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
    let set = ImageFolder::open(&a.data)?;
    if set.items.is_empty() {
        bail!("no images in {}", a.data.display());
    }
    let s = mnv2::evaluate::classification(&mut c, &set, &mut crate::progress::Bar::default())?;
    if s.images == 0 {
        bail!("none of the {} images in {} could be read", set.items.len(), a.data.display());
    }
    if a.json {
        println!(
            "{}",
            json!({"images": s.images, "failed": s.failed, "top1": s.top1, "top5": s.top5, "classes": set.classes, "confusion": s.confusion})
        );
    } else {
        println!(
            "{} on {}: top-1 {:.2}%, top-5 {:.2}%",
            model_path.display(),
            crate::count(s.images, "image"),
            100.0 * s.top1,
            100.0 * s.top5
        );
        println!("confusion (rows: truth, columns: prediction)");
        let width = set.classes.iter().map(String::len).max().unwrap_or(5).max(5);
        print!("{:>width$}", "");
        for name in &set.classes {
            print!(" {:>width$}", name);
        }
        println!();
        for (name, row) in set.classes.iter().zip(&s.confusion) {
            print!("{name:>width$}");
            for v in row {
                print!(" {v:>width$}");
            }
            println!();
        }
    }
    Ok(if s.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
