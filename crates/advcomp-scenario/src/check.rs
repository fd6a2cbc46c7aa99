//! Semantic checks and resolution: [`Scenario`] → [`Resolved`].
//!
//! This module drives the pass and owns names, parents and transfers;
//! `params` checks parameter blocks and registry names, `instances`
//! expands sound declarations.
//!
//! In order: settings; one namespace of declared names (models, variants
//! and attacks together); every parameter block on its own (duplicate
//! keys, empty or nested sweeps, repeated sweep values); registry names and
//! parameters through the [`Catalog`]; variant parents and cycles;
//! transfers. Every problem found is reported, not just the first. Only a
//! scenario without errors is expanded into instances.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::ast::*;
use crate::catalog::Catalog;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::resolved::{ModelInstance, Resolved, Transfer};
use crate::settings;
use crate::span::{SourceFile, Span};

mod claims;
mod instances;
mod params;

pub use claims::is_seed_key;

/// Attack parameters that are run options, not attack hyper-parameters:
/// stripped into [`AttackInstance::images`](crate::AttackInstance::images),
/// [`AttackInstance::batch_size`](crate::AttackInstance::batch_size) and
/// [`AttackInstance::target`](crate::AttackInstance::target).
pub const RESERVED_ATTACK_KEYS: &[&str] = &["images", "batch_size", "target"];

/// The reserved attack keys that count images (positive integers).
const COUNT_KEYS: &[&str] = &["images", "batch_size"];

/// Checks `ast` against `catalog` and expands its sweeps. Returns every
/// problem found (sorted by position) if there is any error. Never panics.
///
/// Secrets are concealed first ([`crate::secret::conceal`]): nothing
/// derived from the scenario, diagnostics included, holds a passphrase; the
/// result carries them in [`Resolved::secrets`].
pub fn check(ast: &Scenario, catalog: &dyn Catalog) -> Result<Resolved, Diagnostics> {
    let mut concealed = ast.clone();
    let secrets = crate::secret::conceal(&mut concealed, catalog);
    let mut cx = Checker {
        src: &concealed.source,
        catalog,
        diags: Diagnostics::new(),
    };
    let mut resolved = cx.run(&concealed)?;
    resolved.secrets = secrets;
    Ok(resolved)
}

/// The nearest of `candidates` to `name`, if close enough to be a likely typo.
/// Close enough means a small edit distance (about one edit per three
/// characters: `tabu` → `taboo`) or a high Jaro-Winkler similarity
/// (`cifar` → `cifarnet`).
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| {
            let c_lower = c.to_ascii_lowercase();
            (
                strsim::damerau_levenshtein(&lower, &c_lower),
                strsim::jaro_winkler(&lower, &c_lower),
                c,
            )
        })
        .filter(|(d, jw, c)| *d <= ((c.chars().count() + 1) / 3).max(1) || *jw >= 0.9)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| c.to_string())
}

/// A declared name and what it declares.
#[derive(Clone, Copy)]
enum Decl<'a> {
    Model(&'a ModelDecl),
    Variant(&'a VariantDecl),
    Ensemble(&'a EnsembleDecl),
    Attack(&'a AttackDecl),
}

impl<'a> Decl<'a> {
    fn name(&self) -> &'a Ident {
        match self {
            Decl::Model(m) => &m.name,
            Decl::Variant(v) => &v.name,
            Decl::Ensemble(e) => &e.name,
            Decl::Attack(a) => &a.name,
        }
    }

    fn is_model(&self) -> bool {
        !matches!(self, Decl::Attack(_))
    }

    fn what(&self) -> &'static str {
        match self {
            Decl::Model(_) => "a model",
            Decl::Variant(_) => "a variant",
            Decl::Ensemble(_) => "an ensemble",
            Decl::Attack(_) => "an attack",
        }
    }
}

/// A model instance before it is published: sweep keys kept in order.
struct Inst {
    id: String,
    sweep: Vec<(String, Json)>,
}

struct Checker<'a> {
    src: &'a SourceFile,
    catalog: &'a dyn Catalog,
    diags: Diagnostics,
}

impl<'a> Checker<'a> {
    fn error(&mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.src, span, message)
    }

    fn run(&mut self, ast: &'a Scenario) -> Result<Resolved, Diagnostics> {
        let settings_list: Vec<&Setting> = ast
            .statements
            .iter()
            .filter_map(|s| match &s.kind {
                StatementKind::Setting(x) => Some(x),
                _ => None,
            })
            .collect();
        let settings = settings::resolve(self.src, &settings_list, &mut self.diags);

        // One namespace for every declared name; the first declaration wins.
        let mut decls: Vec<Decl<'a>> = Vec::new();
        let mut by_name: HashMap<&'a str, Decl<'a>> = HashMap::new();
        for st in &ast.statements {
            let d = match &st.kind {
                StatementKind::Model(m) => Decl::Model(m),
                StatementKind::Variant(v) => Decl::Variant(v),
                StatementKind::Ensemble(e) => Decl::Ensemble(e),
                StatementKind::Attack(a) => Decl::Attack(a),
                _ => continue,
            };
            let name = d.name();
            if let Some(first) = by_name.get(name.name.as_str()) {
                let d2 = self
                    .error(name.span, format!("`{}` is declared twice", name.name))
                    .label(format!("declared again here as {}", d.what()))
                    .with(
                        self.src,
                        first.name().span,
                        format!("first declared here as {}", first.what()),
                    )
                    .help("models, variants, ensembles and attacks share one namespace: rename one of them");
                self.diags.push(d2);
                continue;
            }
            by_name.insert(name.name.as_str(), d);
            decls.push(d);
        }

        // Registry names and parameter blocks, declaration by declaration.
        let mut canon: HashMap<&'a str, Vec<String>> = HashMap::new();
        for d in &decls {
            if let Some(names) = self.check_decl(*d) {
                canon.insert(d.name().name.as_str(), names);
            }
        }

        let parents_ok = self.check_parents(&decls, &by_name);

        let transfers: Vec<&TransferDecl> = ast
            .statements
            .iter()
            .filter_map(|s| match &s.kind {
                StatementKind::Transfer(t) => Some(t),
                _ => None,
            })
            .collect();
        for t in &transfers {
            self.check_transfer(t, &by_name, &decls);
        }
        let expects: Vec<(&ExpectDecl, Span)> = ast
            .statements
            .iter()
            .filter_map(|s| match &s.kind {
                StatementKind::Expect(e) => Some((e, s.span)),
                _ => None,
            })
            .collect();
        for (e, _) in &expects {
            self.check_expect_names(e, &by_name, &decls);
        }
        if transfers.is_empty() {
            let (span, message, label) = match ast.statements.last() {
                None => (
                    Span::new(0, 0),
                    "empty scenario: no statements",
                    "nothing to run",
                ),
                Some(last) => (
                    last.span,
                    "no `transfer` statement: nothing would be attacked",
                    "the scenario ends here without a `transfer`",
                ),
            };
            let d = self.error(span, message).label(label).help(
                "add e.g. `transfer base -> pruned using all` (see docs/scenario-language.md)",
            );
            self.diags.push(d);
        }

        if self.diags.has_errors() || !parents_ok {
            let mut diags = std::mem::take(&mut self.diags);
            diags.sort_dedup();
            return Err(diags);
        }

        // Expansion (the scenario is known to be sound from here on).
        let mut models: Vec<ModelInstance> = Vec::new();
        let mut instances: HashMap<&'a str, Vec<Inst>> = HashMap::new();
        for d in &decls {
            self.expand_model(*d, &by_name, &canon, &mut instances, &mut models);
        }
        let mut attacks = Vec::new();
        let mut attack_ids: HashMap<&'a str, Vec<String>> = HashMap::new();
        for d in &decls {
            if let Decl::Attack(a) = d {
                let list = self.expand_attack(a, &canon);
                attack_ids.insert(
                    a.name.name.as_str(),
                    list.iter().map(|i| i.id.clone()).collect(),
                );
                attacks.extend(list);
            }
        }
        let all_attacks: Vec<String> = attacks.iter().map(|a| a.id.clone()).collect();
        let transfers = transfers
            .iter()
            .map(|t| {
                let ids = |names: &[Ident]| {
                    dedup(names.iter().flat_map(|n| {
                        instances
                            .get(n.name.as_str())
                            .into_iter()
                            .flatten()
                            .map(|i| i.id.clone())
                    }))
                };
                let attacks = match &t.attacks {
                    AttackRefs::All(_) => all_attacks.clone(),
                    AttackRefs::Named(names) => dedup(names.iter().flat_map(|n| {
                        attack_ids
                            .get(n.name.as_str())
                            .into_iter()
                            .flatten()
                            .cloned()
                    })),
                };
                Transfer {
                    sources: ids(&t.sources),
                    targets: ids(&t.targets),
                    attacks,
                }
            })
            .collect::<Vec<_>>();
        let produced = claims::Produced::new(&models, &transfers);
        let claims = expects
            .iter()
            .filter_map(|(e, span)| self.resolve_claim(e, *span, &models, &attacks, &produced))
            .collect();
        if self.diags.has_errors() {
            let mut diags = std::mem::take(&mut self.diags);
            diags.sort_dedup();
            return Err(diags);
        }
        Ok(Resolved {
            settings,
            models,
            attacks,
            transfers,
            claims,
            secrets: Default::default(),
        })
    }

    /// Variant parents exist, are models or variants, and form no cycle.
    /// Returns whether every variant leads back to a trained model.
    fn check_parents(&mut self, decls: &[Decl<'a>], by_name: &HashMap<&'a str, Decl<'a>>) -> bool {
        let mut ok = true;
        let model_names: Vec<&str> = decls
            .iter()
            .filter(|d| d.is_model())
            .map(|d| d.name().name.as_str())
            .collect();
        for d in decls {
            let Decl::Variant(v) = d else { continue };
            match by_name.get(v.parent.name.as_str()) {
                None => {
                    ok = false;
                    let d = self.undefined(&v.parent, "model or variant", &model_names);
                    self.diags.push(d);
                }
                Some(p) if !p.is_model() => {
                    ok = false;
                    let d = self
                        .error(
                            v.parent.span,
                            format!("`{}` is an attack, not a model", v.parent.name),
                        )
                        .label("expected a model or variant")
                        .with(self.src, p.name().span, "declared as an attack here");
                    self.diags.push(d);
                }
                Some(p @ Decl::Ensemble(_)) => {
                    ok = false;
                    let d = self
                        .error(
                            v.parent.span,
                            format!(
                                "`{}` is an ensemble, which cannot be compressed or defended",
                                v.parent.name
                            ),
                        )
                        .label("expected a model or variant")
                        .with(self.src, p.name().span, "declared as an ensemble here")
                        .help("make the variants of its members and put those in an ensemble");
                    self.diags.push(d);
                }
                Some(_) => {}
            }
        }
        for d in decls {
            let Decl::Ensemble(e) = d else { continue };
            for m in &e.members {
                match by_name.get(m.name.as_str()) {
                    None => {
                        ok = false;
                        let d = self.undefined(m, "model or variant", &model_names);
                        self.diags.push(d);
                    }
                    Some(p @ (Decl::Attack(_) | Decl::Ensemble(_))) => {
                        ok = false;
                        let d = self
                            .error(
                                m.span,
                                format!("`{}` is {}, not a model or variant", m.name, p.what()),
                            )
                            .label("an ensemble is made of models and variants")
                            .with(
                                self.src,
                                p.name().span,
                                format!("declared as {} here", p.what()),
                            );
                        self.diags.push(d);
                    }
                    Some(_) => {}
                }
            }
        }
        // Cycles: follow parents from each variant; a cycle is reported once,
        // at its member declared first.
        let mut reported: Vec<Vec<&str>> = Vec::new();
        for d in decls {
            let Decl::Variant(start) = d else { continue };
            let mut path: Vec<&VariantDecl> = vec![start];
            while let Some(Decl::Variant(next)) =
                by_name.get(path[path.len() - 1].parent.name.as_str())
            {
                if let Some(pos) = path.iter().position(|p| p.name.name == next.name.name) {
                    if pos == 0 {
                        ok = false;
                        let mut members: Vec<&str> =
                            path.iter().map(|p| p.name.name.as_str()).collect();
                        members.sort_unstable();
                        if !reported.contains(&members) {
                            reported.push(members);
                            let names: Vec<&str> =
                                path.iter().map(|p| p.name.name.as_str()).collect();
                            let cycle = format!("{} -> {}", names.join(" -> "), names[0]);
                            let mut diag = self
                                .error(
                                    start.parent.span,
                                    format!("variants derive from each other in a cycle: {cycle}"),
                                )
                                .label(format!(
                                    "`{}` derives from `{}`",
                                    start.name.name, start.parent.name
                                ))
                                .help("a variant's chain of parents must end at a `model`");
                            for p in &path[1..] {
                                diag = diag.with(
                                    self.src,
                                    p.parent.span,
                                    format!("`{}` derives from `{}`", p.name.name, p.parent.name),
                                );
                            }
                            self.diags.push(diag);
                        }
                    } else {
                        ok = false; // leads into a cycle reported from its own members
                    }
                    break;
                }
                path.push(next);
            }
        }
        ok
    }

    fn undefined(&mut self, ident: &Ident, what: &str, candidates: &[&str]) -> Diagnostic {
        let mut d = self
            .error(ident.span, format!("undefined {what} `{}`", ident.name))
            .label("not declared");
        d = d.help(match suggest(&ident.name, candidates.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if candidates.is_empty() => format!("no {what} is declared"),
            None => format!("declared: {}", candidates.join(", ")),
        });
        d
    }

    fn check_transfer(
        &mut self,
        t: &TransferDecl,
        by_name: &HashMap<&'a str, Decl<'a>>,
        decls: &[Decl<'a>],
    ) {
        let models: Vec<&str> = decls
            .iter()
            .filter(|d| d.is_model())
            .map(|d| d.name().name.as_str())
            .collect();
        let attacks: Vec<&str> = decls
            .iter()
            .filter(|d| !d.is_model())
            .map(|d| d.name().name.as_str())
            .collect();
        const HELP: &str = "a transfer is written `transfer SOURCES -> TARGETS using ATTACKS`";
        for n in t.sources.iter().chain(&t.targets) {
            self.check_reference(n, true, by_name, &models, Some(HELP));
        }
        match &t.attacks {
            AttackRefs::All(span) if attacks.is_empty() => {
                let d = self
                    .error(*span, "`using all` but no attack is declared")
                    .label("no attacks")
                    .help("declare one, e.g. `attack fgsm = fgsm { epsilon: 0.1 }`");
                self.diags.push(d);
            }
            AttackRefs::All(_) => {}
            AttackRefs::Named(names) => {
                for n in names {
                    self.check_reference(n, false, by_name, &attacks, Some(HELP));
                }
            }
        }
    }

    /// The one check behind every name a `transfer` or an `expect` uses:
    /// declared, and as a model or variant (`model`) or as an attack.
    fn check_reference(
        &mut self,
        name: &Ident,
        model: bool,
        by_name: &HashMap<&'a str, Decl<'a>>,
        candidates: &[&str],
        help: Option<&str>,
    ) {
        let what = if model { "model or variant" } else { "attack" };
        match by_name.get(name.name.as_str()) {
            None => {
                let d = self.undefined(name, what, candidates);
                self.diags.push(d);
            }
            Some(d) if d.is_model() != model => {
                let mut diag = self
                    .error(
                        name.span,
                        format!("`{}` is {}, not {}", name.name, d.what(), article(what)),
                    )
                    .label(format!("expected {}", article(what)))
                    .with(self.src, d.name().span, "declared here");
                if let Some(help) = help {
                    diag = diag.help(help);
                }
                self.diags.push(diag);
            }
            Some(_) => {}
        }
    }
}

fn article(what: &str) -> String {
    if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {what}")
    } else {
        format!("a {what}")
    }
}

fn dedup(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.filter(|id| seen.insert(id.clone())).collect()
}
