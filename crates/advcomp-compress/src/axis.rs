//! What a compressor varies, as results, reports and plots show it.
//!
//! Every compressor's registration lists its [`Axis`]es: pruning varies
//! the density, fixed point the weight and activation bitwidths, a plugin
//! whatever it declares. The runner measures every registered axis on
//! every model ([`Axis::measure`] on its compression report, or the
//! uncompressed value), so a report's model table has one column per axis
//! and a plot per axis that asks for one, without knowing any compressor
//! by name. Which axes a model *varies* (those of the steps that made it)
//! decides which plot it belongs on: a model pruned and quantised varies
//! two plotted axes and is on neither, since its transfer rate cannot be
//! read against one of them alone.

use std::collections::BTreeMap;

use crate::report::CompressionReport;

/// One quantity a compressor varies, measured on the compressed model.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    /// Its key in `results.json` and `models.csv`, lower-case snake case
    /// (`density`, `weight_bits`).
    pub name: &'static str,
    /// Its column title in the report's model table (`weight bits`).
    pub title: &'static str,
    /// Its value for a model no compressor touched (density 1, 32 bits);
    /// finite, as every value must be (JSON has no infinity).
    pub uncompressed: f64,
    /// Its value on a compressed model, from the model's compression
    /// report (a value that is not finite is left out of the results).
    pub measure: fn(&CompressionReport) -> f64,
    /// A value as the model table shows it.
    pub show: fn(f64) -> String,
    /// The plot of transfer rate against it, if it gets one.
    pub plot: Option<Plot>,
}

/// A plot of transfer rate against an axis: one line per attack and
/// direction, a point per compressed model that varies this axis and no
/// other plotted one.
#[derive(Debug, Clone, Copy)]
pub struct Plot {
    /// The SVG file's name in the report directory.
    pub file: &'static str,
    /// The plot's title (and the report's link text).
    pub title: &'static str,
    /// The x axis' label.
    pub x_label: &'static str,
}

impl PartialEq for Axis {
    /// By declaration, not by the functions' addresses (a `const` has no
    /// one address across crates).
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.title == other.title
            && self.uncompressed == other.uncompressed
            && self.plot.map(|p| (p.file, p.title, p.x_label))
                == other.plot.map(|p| (p.file, p.title, p.x_label))
    }
}

/// Share of weights kept, over every layer: what pruning varies.
pub const DENSITY: Axis = Axis {
    name: "density",
    title: "density",
    uncompressed: 1.0,
    measure: |r| r.density,
    show: |v| format!("{v:.3}"),
    plot: Some(Plot {
        file: "transfer-vs-density.svg",
        title: "transfer rate against density",
        x_label: "density (share of weights kept)",
    }),
};

/// Bits per stored weight, the widest layer's: what weight quantisation
/// varies.
pub const WEIGHT_BITS: Axis = Axis {
    name: "weight_bits",
    title: "weight bits",
    uncompressed: 32.0,
    measure: |r| f64::from(r.layers.iter().map(|l| l.weight_bits).max().unwrap_or(32)),
    show: show_bits,
    plot: Some(Plot {
        file: "transfer-vs-bits.svg",
        title: "transfer rate against bitwidth",
        x_label: "weight bitwidth",
    }),
};

/// Bits per activation, the narrowest layer's: what activation
/// quantisation varies (plotted with the weights' bits, not alone).
pub const ACT_BITS: Axis = Axis {
    name: "act_bits",
    title: "activation bits",
    uncompressed: 32.0,
    measure: |r| f64::from(r.layers.iter().map(|l| l.act_bits).min().unwrap_or(32)),
    show: show_bits,
    plot: None,
};

/// `float` for 32 bits or more, else the count.
fn show_bits(bits: f64) -> String {
    if bits >= 32.0 {
        "float".into()
    } else {
        format!("{bits:.0}")
    }
}

/// What every registered axis reads on one model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    /// Every registered axis' value, by name (one whose measure was not
    /// finite is missing).
    pub values: BTreeMap<String, f64>,
    /// The axes the model's compression steps declare, in registry order
    /// (empty for an uncompressed model).
    pub varies: Vec<String>,
}

/// Every registered axis measured on a model with this compression report
/// (`None`: an uncompressed model).
pub fn measure(report: Option<&CompressionReport>) -> Measured {
    let axes = crate::registry::axes();
    // A value JSON cannot hold (a plugin's measure gave NaN or infinity)
    // is left out: the report shows an empty cell rather than results.json
    // recording a null it could not read back.
    let values = axes
        .iter()
        .map(|a| (a.name, report.map_or(a.uncompressed, |r| (a.measure)(r))))
        .filter(|(_, v)| v.is_finite())
        .map(|(name, v)| (name.to_string(), v))
        .collect();
    let declared: Vec<&str> = report
        .map(|r| {
            r.steps
                .iter()
                .filter_map(|s| s.registration())
                .flat_map(|reg| reg.axes.iter().map(|a| a.name))
                .collect()
        })
        .unwrap_or_default();
    let varies = axes
        .iter()
        .filter(|a| declared.contains(&a.name))
        .map(|a| a.name.to_string())
        .collect();
    Measured { values, varies }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;
    use crate::config::Step;
    use crate::report::{Accuracy, LayerReport};

    /// A two-layer report: densities 0.5 and 0.25 of 100 weights each,
    /// weights at 6 and 8 bits, activations at 4 and 8.
    fn report(steps: Vec<Step>) -> CompressionReport {
        let layer = |name: &str, nonzeros, weight_bits, act_bits| LayerReport {
            layer: name.into(),
            shape: vec![10, 10],
            weights: 100,
            nonzeros,
            density: nonzeros as f64 / 100.0,
            weight_format: None,
            weight_bits,
            bias_format: None,
            act_format: None,
            act_bits,
        };
        CompressionReport {
            steps,
            layers: vec![layer("fc1", 50, 6, 4), layer("fc2", 25, 8, 8)],
            weights: 200,
            nonzeros: 75,
            density: 0.375,
            size_bits: 0,
            nonzero_size_bits: 0,
            accuracy: Accuracy {
                original: 1.0,
                compressed: 1.0,
                finetuned: 1.0,
            },
            test_images: 0,
        }
    }

    fn step(op: &str, method: &str, params: serde_json::Value) -> Step {
        let params: Map<String, serde_json::Value> = serde_json::from_value(params).unwrap();
        Step::from_parts(op, method, &params).unwrap()
    }

    fn values(m: &Measured) -> Vec<(&str, f64)> {
        m.values.iter().map(|(k, v)| (k.as_str(), *v)).collect()
    }

    #[test]
    fn an_uncompressed_model_reads_every_axis_at_its_uncompressed_value_and_varies_none() {
        let m = measure(None);
        assert_eq!(
            values(&m),
            [
                ("act_bits", 32.0),
                ("density", 1.0),
                ("levels", 4_294_967_296.0),
                ("weight_bits", 32.0)
            ]
        );
        assert!(m.varies.is_empty());
    }

    #[test]
    fn every_axis_is_measured_and_only_the_steps_axes_are_varied() {
        let pruned = report(vec![step("prune", "magnitude", json!({"density": 0.375}))]);
        let m = measure(Some(&pruned));
        // The widest weights, the narrowest activations, the overall density.
        assert_eq!(
            values(&m),
            [
                ("act_bits", 4.0),
                ("density", 0.375),
                ("levels", 256.0),
                ("weight_bits", 8.0)
            ]
        );
        assert_eq!(m.varies, ["density"]);
        let both = report(vec![
            step("prune", "dns", json!({"alpha": -0.1})),
            step("quantise", "fixed", json!({"bits": 8})),
            step("finetune", "", json!({})),
        ]);
        assert_eq!(
            measure(Some(&both)).varies,
            ["density", "weight_bits", "act_bits"]
        );
    }

    /// A compressor registered here as a plugin crate would register it,
    /// with an axis no built-in declares: the sign of each weight times
    /// the layer's mean magnitude, varying "levels" (values per weight).
    #[derive(Debug)]
    struct Sign;

    impl crate::registry::Projection for Sign {
        fn config(&self) -> serde_json::Value {
            json!({})
        }
        fn applies_to(&self, param: &advcomp_models::ParamInfo) -> bool {
            param.kind == advcomp_models::ParamKind::Weight
        }
        fn project(&self, _: &advcomp_models::ParamInfo, values: &[f32]) -> Vec<f32> {
            let scale = values.iter().map(|v| v.abs()).sum::<f32>() / values.len().max(1) as f32;
            values.iter().map(|v| scale.copysign(*v)).collect()
        }
        fn bits(&self) -> u8 {
            1
        }
    }

    /// Values per stored weight: 2 for every layer the projection reaches.
    const LEVELS: Axis = Axis {
        name: "levels",
        title: "levels",
        uncompressed: 4_294_967_296.0, // 2^32: a float's bit patterns
        measure: |r| {
            let bits = r.layers.iter().map(|l| l.weight_bits).max().unwrap_or(32);
            2f64.powi(i32::from(bits))
        },
        show: |v| format!("{v}"),
        plot: None,
    };

    crate::inventory::submit! {
        crate::registry::Registration {
            kind: crate::registry::CompressorKind::Quantise,
            name: "test_sign",
            summary: "the axis tests' sign projection",
            paper: "none: a test",
            params: &[],
            axes: &[LEVELS],
            version: 1,
            build: crate::registry::Build::Projection(|_| Ok(Box::new(Sign))),
        }
    }

    #[test]
    fn a_plugins_own_axis_is_measured_on_every_model_and_varied_by_its_steps() {
        let names: Vec<&str> = crate::registry::axes().iter().map(|a| a.name).collect();
        assert_eq!(names, ["density", "weight_bits", "act_bits", "levels"]);
        assert_eq!(measure(None).values["levels"], 4_294_967_296.0);
        let step = crate::projection::ProjectionStep::build(
            crate::registry::CompressorKind::Quantise,
            "test_sign",
            &Map::new(),
        )
        .unwrap();
        let mut signed = report(vec![Step::Project(step)]);
        for layer in &mut signed.layers {
            layer.weight_bits = 1;
        }
        let m = measure(Some(&signed));
        assert_eq!(m.varies, ["levels"]);
        assert_eq!(m.values["levels"], 2.0);
        assert_eq!(m.values["weight_bits"], 1.0);
    }

    #[test]
    fn the_built_in_axes_are_declared_once_in_registry_order_and_shown_as_before() {
        let names: Vec<&str> = crate::registry::axes().iter().map(|a| a.name).collect();
        // The built-ins' three, then the test plugin's above.
        assert_eq!(names[..3], ["density", "weight_bits", "act_bits"]);
        assert!(crate::registry::duplicates().is_empty());
        assert_eq!((DENSITY.show)(0.1), "0.100");
        assert_eq!((WEIGHT_BITS.show)(6.0), "6");
        assert_eq!((ACT_BITS.show)(32.0), "float");
    }
}
