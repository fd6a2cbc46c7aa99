//! The known settings (`key = value` at the top of a scenario): their
//! types, ranges and defaults, checked by the front end itself (they are
//! not registry business).

use crate::ast::{Setting, ValueKind};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::resolved::Settings;
use crate::span::SourceFile;

/// Every known setting key, in documentation order.
pub const KEYS: &[&str] = &[
    "seed",
    "backend",
    "data",
    "train_images",
    "test_images",
    "batch_size",
    "output",
];

/// Backends a scenario may name.
pub const BACKENDS: &[&str] = &["cpu", "flex", "ndarray", "wgpu", "cuda"];

/// Datasets a scenario may name.
pub const DATASETS: &[&str] = &["mnist", "cifar10"];

/// Checks the settings (unknown keys, duplicates, types, ranges) and fills
/// in defaults for the ones not given.
pub fn resolve(src: &SourceFile, settings: &[&Setting], diags: &mut Diagnostics) -> Settings {
    let mut out = Settings::default();
    let mut seen: Vec<&Setting> = Vec::new();
    for s in settings {
        let key = s.key.name.as_str();
        if let Some(first) = seen.iter().find(|f| f.key.name == key) {
            diags.push(
                Diagnostic::error(src, s.key.span, format!("setting `{key}` is given twice"))
                    .label("set again here")
                    .with(src, first.key.span, "first set here")
                    .help("keep one of them"),
            );
            continue;
        }
        seen.push(s);
        if !KEYS.contains(&key) {
            let mut d = Diagnostic::error(src, s.key.span, format!("unknown setting `{key}`"))
                .label("not a setting");
            d = d.help(match crate::check::suggest(key, KEYS.iter().copied()) {
                Some(best) => format!(
                    "did you mean `{best}`? The settings are: {}",
                    KEYS.join(", ")
                ),
                None => format!("the settings are: {}", KEYS.join(", ")),
            });
            diags.push(d);
            continue;
        }
        let v = &s.value;
        let err = |what: &str| {
            let d = Diagnostic::error(
                src,
                v.span,
                format!("setting `{key}` must be {what}, found {}", v.kind.quote()),
            )
            .label(format!("expected {what}"));
            if matches!(v.kind, ValueKind::List(_)) {
                d.help("settings cannot be swept: give one value")
            } else {
                d
            }
        };
        match key {
            "seed" => match v.kind {
                ValueKind::Int(i) if i >= 0 => out.seed = i.unsigned_abs(),
                _ => diags.push(err("a non-negative integer")),
            },
            "train_images" | "test_images" | "batch_size" => match v.kind {
                ValueKind::Int(i) if i >= 1 => {
                    let n = usize::try_from(i).unwrap_or(usize::MAX);
                    match key {
                        "train_images" => out.train_images = Some(n),
                        "test_images" => out.test_images = n,
                        _ => out.batch_size = n,
                    }
                }
                _ => diags.push(err("a positive integer")),
            },
            "backend" | "data" => {
                let choices = if key == "backend" { BACKENDS } else { DATASETS };
                match &v.kind {
                    ValueKind::Str(s) | ValueKind::Word(s) if choices.contains(&s.as_str()) => {
                        if key == "backend" {
                            out.backend = Some(s.clone());
                        } else {
                            out.data = s.clone();
                        }
                    }
                    ValueKind::Str(s) | ValueKind::Word(s) => {
                        let mut d = Diagnostic::error(src, v.span, format!("unknown {key} `{s}`"))
                            .label(format!("not one of {}", choices.join(", ")));
                        d = d.help(match crate::check::suggest(s, choices.iter().copied()) {
                            Some(best) => {
                                format!("did you mean `\"{best}\"`? Known: {}", choices.join(", "))
                            }
                            None => format!("known: {}", choices.join(", ")),
                        });
                        diags.push(d);
                    }
                    ValueKind::List(_) => diags.push(err("a string")),
                    _ => diags.push(err("a string").help(format!("one of {}", choices.join(", ")))),
                }
            }
            _ => match &v.kind {
                ValueKind::Str(s) | ValueKind::Word(s) => out.output = Some(s.clone()),
                _ => diags.push(err("a string (a directory path)")),
            },
        }
    }
    out
}
