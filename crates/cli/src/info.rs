//! `mnv2 info`: the architecture as a table (or JSON), from a model file or from
//! `--task`/`--width`/`--resolution`/`--classes`.

use crate::args::InfoArgs;
use anyhow::Context;
use mnv2::arch::{Arch, DeepLab, SsdLite, describe};
use std::process::ExitCode;

pub fn main(a: InfoArgs) -> anyhow::Result<ExitCode> {
    let (text, json) = match &a.model {
        Some(path) => {
            let m = mnv2::import::load(path).with_context(|| format!("loading {}", path.display()))?;
            if let Some(ssd) = m.ssdlite() {
                (describe::ssdlite_table(&ssd), describe::ssdlite_json(&ssd))
            } else if let Some(d) = m.deeplab() {
                (describe::deeplab_table(&d), describe::deeplab_json(&d))
            } else {
                (describe::table(&m.arch), describe::json(&m.arch))
            }
        }
        None => match a.task.as_str() {
            "classify" => {
                let arch = Arch::new(a.width, a.resolution, a.classes)?;
                (describe::table(&arch), describe::json(&arch))
            }
            "segment" => {
                let d = DeepLab::new(a.width, a.resolution, a.classes)?;
                (describe::deeplab_table(&d), describe::deeplab_json(&d))
            }
            "detect" => {
                let s = SsdLite::new(a.width, a.resolution, a.classes)?;
                (describe::ssdlite_table(&s), describe::ssdlite_json(&s))
            }
            other => anyhow::bail!("unknown --task {other:?} (classify, segment or detect)"),
        },
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
