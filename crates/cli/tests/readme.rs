//! The README's command reference agrees with the program's own `--help`: every subcommand is
//! listed with exactly its options, required ones outside brackets and optional ones inside, and
//! every option and subcommand has a description and an example.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};

/// Options every subcommand takes, documented once below the reference.
const GLOBAL: [&str; 3] = ["--max-pixels", "--max-file-bytes", "--max-memory"];

/// The README's reference block: subcommand -> its synopsis (continuation lines joined).
fn readme_synopses() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme.split("## The command line").nth(1).expect("a command-line section");
    let block = section.split("```").nth(1).expect("a code block in it");
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut current = None;
    for line in block.lines() {
        if let Some(rest) = line.strip_prefix("mnv2 ") {
            let name = rest.split_whitespace().next().unwrap().to_string();
            out.insert(name.clone(), rest[name.len()..].to_string());
            current = Some(name);
        } else if line.starts_with(' ') && !line.trim().is_empty() {
            let name = current.clone().expect("a continuation after a command");
            out.get_mut(&name).unwrap().push_str(line);
        } else {
            current = None;
        }
    }
    assert!(GLOBAL.iter().all(|g| section.contains(g)), "the section names the options every command takes");
    out
}

/// `--flag` tokens of a synopsis with the bracket depth each appears at.
fn flags_with_depth(synopsis: &str) -> Vec<(String, usize)> {
    let (mut depth, mut out) = (0usize, Vec::new());
    let chars: Vec<char> = synopsis.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '-' if chars.get(i + 1) == Some(&'-') && (i == 0 || !chars[i - 1].is_alphanumeric()) => {
                let end = (i + 2..chars.len()).find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '-'));
                let end = end.unwrap_or(chars.len());
                out.push((chars[i..end].iter().collect(), depth));
                i = end;
                continue;
            }
            '-' if chars.get(i + 1) == Some(&'o') && chars.get(i + 2) == Some(&' ') => {
                out.push(("--output".into(), depth)); // `-o` is --output's short form
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The subcommands `mnv2 --help` lists.
fn subcommands() -> Vec<String> {
    let help = text(&mnv2(&["--help"]).stdout);
    let commands = help.split("Commands:").nth(1).unwrap().split("Options:").next().unwrap();
    commands.lines().filter_map(|l| l.split_whitespace().next()).filter(|c| *c != "help").map(str::to_string).collect()
}

#[test]
fn readme_reference_matches_every_subcommands_help() {
    let readme = readme_synopses();
    let commands = subcommands();
    assert_eq!(readme.keys().cloned().collect::<BTreeSet<_>>(), commands.iter().cloned().collect(), "subcommands");
    for cmd in &commands {
        let help = text(&mnv2(&[cmd, "--help"]).stdout);
        let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap().to_string();
        let mut options = BTreeSet::new();
        for line in help.lines() {
            let t = line.trim_start();
            let t = t.strip_prefix("-o, ").unwrap_or(t);
            if let Some(rest) = t.strip_prefix("--") {
                let name = format!("--{}", rest.split([' ', '<']).next().unwrap());
                if name != "--help" && !GLOBAL.contains(&name.as_str()) {
                    // Every option says what it is: text after the name on its line or the next.
                    options.insert(name);
                }
            }
        }
        let documented = flags_with_depth(&readme[cmd]);
        let listed: BTreeSet<String> = documented.iter().map(|(f, _)| f.clone()).collect();
        assert_eq!(listed, options, "mnv2 {cmd}: README options vs --help");
        for (flag, depth) in documented {
            let required =
                usage.split_whitespace().any(|w| w == flag) || (flag == "--output" && usage.contains("--output"));
            assert_eq!(
                depth == 0,
                required,
                "mnv2 {cmd}: {flag} is {} in --help",
                if required { "required" } else { "optional" }
            );
        }
        assert!(help.contains("Examples:"), "mnv2 {cmd} --help has no example");
    }
}

/// Every option's help line has a description (clap prints the bare name when there is none).
#[test]
fn every_option_is_described() {
    for cmd in subcommands() {
        let help = text(&mnv2(&[&cmd, "--help"]).stdout);
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            if !(t.starts_with("--") || t.starts_with("-o, ") || t.starts_with("-h, ")) {
                continue;
            }
            // "--flag <X>  Description" on one line, or the description indented on the next.
            let same_line = t.split("  ").filter(|s| !s.trim().is_empty()).count() > 1;
            let next_line = lines.get(i + 1).is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
            assert!(same_line || next_line, "mnv2 {cmd}: {t:?} has no description");
        }
    }
}

/// A negative number is read as a value (and refused as out of range), not as an unknown flag.
#[test]
fn negative_values_are_values() {
    let out = mnv2(&["train", "--data", "x", "--val", "y", "-o", "z", "--lr", "-1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("invalid value '-1' for '--lr"), "{err}");
}
