//! The library's progress reports as a bar on stderr (hidden when stderr is not a terminal) and
//! its notes as `mnv2: ...` lines.

use indicatif::{ProgressBar, ProgressStyle};

/// A [`mnv2::Progress`] drawn with indicatif.
#[derive(Default)]
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl mnv2::Progress for Bar {
    fn start(&mut self, total: usize, what: &str) {
        let bar = ProgressBar::new(total as u64);
        let template = format!("{{bar:30}} {what} {{pos}}/{{len}} {{msg}} eta {{eta}}");
        bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        self.bar = Some(bar);
    }
    fn advance(&mut self, n: usize, status: &str) {
        if let Some(bar) = &self.bar {
            if !status.is_empty() {
                bar.set_message(status.to_string());
            }
            bar.inc(n as u64);
        }
    }
    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
    fn note(&mut self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("mnv2: {line}")),
            None => eprintln!("mnv2: {line}"),
        }
    }
}
