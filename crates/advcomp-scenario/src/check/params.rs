//! Parameter blocks: their shape (duplicate keys, empty or nested sweeps,
//! repeated sweep values, reserved attack keys) and, through the catalog,
//! their registry names and every concrete value.

use crate::ast::*;
use crate::catalog::Kind;
use crate::expand::{self, Block};
use crate::span::Span;

use super::{COUNT_KEYS, Checker, Decl, RESERVED_ATTACK_KEYS, suggest};

impl<'a> Checker<'a> {
    /// Checks a declaration's registry names and parameter blocks. Returns
    /// the canonical name of each block (arch/attack first, then defence or
    /// steps) when all of them resolved.
    pub(super) fn check_decl(&mut self, d: Decl<'a>) -> Option<Vec<String>> {
        let mut names = Vec::new();
        let mut ok = true;
        let mut blocks: Vec<(Kind, Option<&'a Ident>, &'a Params)> = Vec::new();
        match d {
            Decl::Model(m) => {
                blocks.push((Kind::Architecture, Some(&m.arch), &m.params));
                if let Some(def) = &m.defence {
                    blocks.push((Kind::Defence, Some(&def.name), &def.params));
                }
            }
            Decl::Variant(v) => {
                for s in &v.steps {
                    let kind = match s.op {
                        StageOp::Prune => Kind::Prune,
                        StageOp::Quantise => Kind::Quantise,
                        StageOp::Finetune => Kind::Finetune,
                        StageOp::Defend => Kind::Defence,
                    };
                    blocks.push((kind, s.method.as_ref(), &s.params));
                }
            }
            Decl::Attack(a) => blocks.push((Kind::Attack, Some(&a.attack), &a.params)),
            Decl::Ensemble(_) => {}
        }
        for (kind, ident, params) in blocks {
            let static_ok = self.check_block_shape(params, matches!(d, Decl::Attack(_)));
            let canonical = match ident {
                Some(id) => self.resolve(kind, id),
                None => Some(
                    self.catalog
                        .resolve(Kind::Finetune, "finetune")
                        .unwrap_or_else(|| "finetune".into()),
                ),
            };
            match canonical {
                Some(c) => {
                    if static_ok {
                        let at = ident.map_or(params.span, |i| i.span);
                        self.check_params(kind, &c, at, params, matches!(d, Decl::Attack(_)));
                    }
                    names.push(c);
                }
                None => ok = false,
            }
            ok &= static_ok;
        }
        ok.then_some(names)
    }

    /// The canonical name of `ident` as a `kind`, or a diagnostic.
    pub(super) fn resolve(&mut self, kind: Kind, ident: &Ident) -> Option<String> {
        if let Some(c) = self.catalog.resolve(kind, &ident.name) {
            return Some(c);
        }
        let known = self.catalog.names(kind);
        let what = kind.describe();
        let mut d = self
            .error(ident.span, format!("unknown {what} `{}`", ident.name))
            .label(format!("not a known {what}"));
        let list = known.join(", ");
        d = d.help(
            match suggest(&ident.name, known.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`? Known {what}s: {list}"),
                None => format!("known {what}s: {list}"),
            },
        );
        self.diags.push(d);
        None
    }

    /// Checks what needs no catalog: duplicate keys, sweep lists (empty,
    /// nested, repeated values) and the reserved attack keys. Returns
    /// whether the block is sound enough to expand.
    pub(super) fn check_block_shape(&mut self, params: &Params, attack: bool) -> bool {
        let before = self.diags.len();
        for (i, p) in params.entries.iter().enumerate() {
            if let Some(first) = params.entries[..i]
                .iter()
                .find(|q| q.name.name == p.name.name)
            {
                let d = self
                    .error(
                        p.name.span,
                        format!("parameter `{}` is given twice", p.name.name),
                    )
                    .label("given again here")
                    .with(self.src, first.name.span, "first given here")
                    .help("to sweep over several values, give one list: `name: [a, b]`");
                self.diags.push(d);
            }
            if let ValueKind::List(items) = &p.value.kind {
                if items.is_empty() {
                    let d = self
                        .error(p.value.span, format!("empty sweep for `{}`", p.name.name))
                        .label("no values")
                        .help("a list is a sweep over its values: give at least one value");
                    self.diags.push(d);
                }
                for (j, item) in items.iter().enumerate() {
                    if let ValueKind::List(_) = item.kind {
                        let d = self
                            .error(item.span, "a sweep list cannot contain a list")
                            .label("nested list")
                            .help("a list is a sweep over plain values; a declaration with several lists sweeps their product");
                        self.diags.push(d);
                    } else if let Some(prev) = items[..j]
                        .iter()
                        .find(|x| expand::json(x) == expand::json(item))
                    {
                        let d = self
                            .error(
                                item.span,
                                format!("value repeated in the sweep of `{}`", p.name.name),
                            )
                            .label("repeated")
                            .with(self.src, prev.span, "first here")
                            .help("each value of a sweep makes one instance: give each value once");
                        self.diags.push(d);
                    }
                }
            }
            if attack && COUNT_KEYS.contains(&p.name.name.as_str()) {
                let values: Vec<&Value> = match &p.value.kind {
                    ValueKind::List(items) => items.iter().collect(),
                    _ => vec![&p.value],
                };
                for v in values {
                    if !matches!(v.kind, ValueKind::Int(i) if i >= 1)
                        && !matches!(v.kind, ValueKind::List(_))
                    {
                        let d = self
                            .error(
                                v.span,
                                format!(
                                    "`{}` must be a positive integer, found {}",
                                    p.name.name,
                                    v.kind.quote()
                                ),
                            )
                            .label("expected a positive integer")
                            .help(format!(
                                "`{}` is a run option: how many test images / images per batch",
                                p.name.name
                            ));
                        self.diags.push(d);
                    }
                }
            }
        }
        self.diags.len() == before
    }

    /// Runs the catalog's check on every concrete version of one block (one
    /// per combination of the block's own lists) and points each refusal at
    /// the parameter (or the list element) at fault.
    pub(super) fn check_params(
        &mut self,
        kind: Kind,
        name: &str,
        at: Span,
        params: &Params,
        attack: bool,
    ) {
        let block = [Block {
            label: name,
            params,
        }];
        let axes = expand::axes(&block, &[]);
        let Some(_) = expand::count(axes.iter().map(|a| a.len)) else {
            return; // reported by expansion size checks
        };
        for choice in expand::combinations(&axes.iter().map(|a| a.len).collect::<Vec<_>>()) {
            let mut map = expand::concrete(params, 0, &axes, &choice);
            let mut target = None;
            if attack {
                target = map.get("target").cloned();
                for k in RESERVED_ATTACK_KEYS {
                    map.remove(*k);
                }
            }
            let checked = match target {
                Some(t) => self
                    .catalog
                    .check_target(name, &t)
                    .and_then(|()| self.catalog.check(kind, name, &map)),
                None => self.catalog.check(kind, name, &map),
            };
            let Err(e) = checked else {
                continue;
            };
            let entry = e
                .field
                .as_ref()
                .and_then(|f| params.entries.iter().position(|p| &p.name.name == f));
            let span = match entry {
                Some(i) if e.unknown_parameter => params.entries[i].name.span,
                Some(i) => {
                    let p = &params.entries[i];
                    match (&p.value.kind, axes.iter().position(|a| a.entry == i)) {
                        (ValueKind::List(items), Some(k)) => {
                            items.get(choice[k]).map_or(p.value.span, |v| v.span)
                        }
                        _ => p.value.span,
                    }
                }
                None if params.entries.is_empty() => at,
                None => params.span,
            };
            let label = if e.unknown_parameter {
                "unknown parameter"
            } else {
                "rejected"
            };
            let d = self.error(span, e.message.clone()).label(label).maybe_help(
                e.suggestion
                    .as_ref()
                    .map(|s| format!("did you mean `{s}`?")),
            );
            self.diags.push(d);
        }
    }
}
