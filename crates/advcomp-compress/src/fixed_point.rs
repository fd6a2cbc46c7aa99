//! Signed fixed-point number formats and fake quantisation with a
//! straight-through estimator.
//!
//! A format with `bits` total bits and `frac` fractional bits represents
//! `k · 2^-frac` for integers `k` in `[-2^(bits-1), 2^(bits-1) - 1]`
//! (two's complement). The integer part, sign included, has
//! `bits - frac` bits; `frac` may be negative (a grid coarser than 1) or
//! exceed `bits` (all values below 1).
//!
//! Quantisation is simulated in float: the forward pass sees the value
//! rounded to the nearest grid point (ties to even) and saturated to the
//! range; the backward pass is the *clipped* straight-through estimator —
//! the identity inside the representable range and zero outside it
//! (Bengio et al. 2013; Hubara et al. 2016). That keeps gradients for
//! fine-tuning and for attacks, which burn's own (post-training, integer)
//! quantisation cannot give.

use burn::Tensor;
use serde::{Deserialize, Serialize};

/// Smallest and largest supported total bitwidths.
pub const BITS: std::ops::RangeInclusive<u8> = 2..=16;

/// Widths of the integer part, sign included (`bits - frac`), that format
/// selection can produce: [`FixedPoint::covering`] and
/// [`FixedPoint::with_overflow_rate`] keep the exponent of the range within
/// ±64, so `1 + [-64, 64]`. Every format in range has a grid step and range
/// that are finite and non-zero in `f32`, which [`fake_quant`] needs.
pub const INTEGER_BITS: std::ops::RangeInclusive<i32> = -63..=65;

/// A fixed-point format: signed (two's complement, Mayo's and the default)
/// or unsigned (for ReLU outputs, which are never negative: the sign bit
/// would be wasted, so at 2 bits a signed activation is 0 or one step while
/// an unsigned one has four levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FixedPoint {
    /// Total bits, the sign's included when signed (2..=16).
    pub bits: u8,
    /// Fractional bits: the grid step is `2^-frac`.
    pub frac: i32,
    /// Two's complement (codes `[-2^(bits-1), 2^(bits-1) - 1]`) or unsigned
    /// (codes `[0, 2^bits - 1]`). Absent in files written before unsigned
    /// formats existed, which were all signed.
    #[serde(default = "signed_default", skip_serializing_if = "is_signed")]
    pub signed: bool,
}

fn signed_default() -> bool {
    true
}

fn is_signed(signed: &bool) -> bool {
    *signed
}

impl FixedPoint {
    /// The grid step `2^-frac`.
    pub fn step(self) -> f64 {
        (-f64::from(self.frac)).exp2()
    }

    /// Bits of the integer part, the sign's included when signed (`bits - frac`).
    pub fn integer_bits(self) -> i32 {
        i32::from(self.bits) - self.frac
    }

    /// Smallest integer code: `-2^(bits-1)`, or 0 unsigned.
    pub fn min_code(self) -> i64 {
        if self.signed {
            -(1i64 << (self.bits - 1))
        } else {
            0
        }
    }

    /// Largest integer code: `2^(bits-1) - 1`, or `2^bits - 1` unsigned.
    pub fn max_code(self) -> i64 {
        if self.signed {
            (1i64 << (self.bits - 1)) - 1
        } else {
            (1i64 << self.bits) - 1
        }
    }

    /// Smallest representable value.
    pub fn min(self) -> f64 {
        self.min_code() as f64 * self.step()
    }

    /// Largest representable value.
    pub fn max(self) -> f64 {
        self.max_code() as f64 * self.step()
    }

    /// The format with `bits` bits whose range covers `max_abs` with the
    /// finest grid: the integer part is `ceil(log2(max_abs))` bits plus the
    /// sign, as in Ristretto. A power of two exactly at `max_abs` saturates
    /// by one grid step (the two's-complement asymmetry). `max_abs` of zero
    /// (a dead layer) gets the finest grid of a unit range.
    pub fn covering(bits: u8, max_abs: f64) -> Self {
        let bits = bits.clamp(*BITS.start(), *BITS.end());
        let int_bits = if max_abs.is_finite() && max_abs > 0.0 {
            // Bits left of the binary point, without the sign.
            max_abs.log2().ceil().clamp(-64.0, 64.0) as i32
        } else {
            0
        };
        Self {
            bits,
            frac: i32::from(bits) - 1 - int_bits,
            signed: true,
        }
    }

    /// Mayo's format of width `bits` and binary point `int_bits` (integer
    /// bits, sign included): fraction bits `bits - int_bits`, range
    /// `±2^(int_bits-1)`.
    pub fn with_integer_bits(bits: u8, int_bits: i32) -> Self {
        let bits = bits.clamp(*BITS.start(), *BITS.end());
        Self {
            bits,
            frac: i32::from(bits) - int_bits,
            signed: true,
        }
    }

    /// The unsigned format of the same width and top of range: the sign bit
    /// becomes one more fraction bit, so the grid is twice as fine (for
    /// ReLU outputs). `with_integer_bits(b, n).unsigned()` covers `[0,
    /// 2^(n-1))` like its signed original, with `n - 1` integer bits.
    pub fn unsigned(self) -> Self {
        if !self.signed {
            return self;
        }
        Self {
            frac: self.frac + 1,
            signed: false,
            ..self
        }
    }

    /// Courbariaux et al.'s dynamic fixed-point rule: the finest grid whose
    /// range leaves at most `overflow_rate` of the values counted in
    /// `histogram` outside it. With a rate of zero this is
    /// [`FixedPoint::covering`] of the maximum.
    pub fn with_overflow_rate(
        bits: u8,
        histogram: &MagnitudeHistogram,
        overflow_rate: f64,
    ) -> Self {
        let allowed = (overflow_rate.clamp(0.0, 1.0) * histogram.total as f64).floor() as u64;
        // Walk down from the largest exponent while the values above the
        // next-lower bucket stay within the allowance.
        let mut above = 0u64;
        let mut chosen = None;
        for (i, &count) in histogram.counts.iter().enumerate().rev() {
            if count == 0 {
                continue;
            }
            if above + count > allowed {
                chosen = Some(i);
                break;
            }
            above += count;
        }
        match chosen {
            None => Self::covering(bits, 0.0),
            Some(i) => {
                let bits = bits.clamp(*BITS.start(), *BITS.end());
                let int_bits = i as i32 - MagnitudeHistogram::OFFSET;
                Self {
                    bits,
                    frac: i32::from(bits) - 1 - int_bits,
                    signed: true,
                }
            }
        }
    }

    /// Checks a format that did not come from this module's constructors
    /// (a checkpoint's sidecar): `bits` in [`BITS`] and the integer part in
    /// [`INTEGER_BITS`]. A format outside them makes [`FixedPoint::min_code`]
    /// overflow or [`fake_quant`] divide by a zero step, that is NaN
    /// activations. The error names the field (`bits`, `frac`).
    pub fn check(self) -> Result<(), (&'static str, String)> {
        if !BITS.contains(&self.bits) {
            return Err((
                "bits",
                format!(
                    "must be in {}..={}, got {}",
                    BITS.start(),
                    BITS.end(),
                    self.bits
                ),
            ));
        }
        let (low, high) = (
            i32::from(self.bits) - INTEGER_BITS.end(),
            i32::from(self.bits) - INTEGER_BITS.start(),
        );
        if !(low..=high).contains(&self.frac) {
            return Err((
                "frac",
                format!(
                    "must be in {low}..={high} for {} bits (an integer part of {}..={} bits), got {}",
                    self.bits,
                    INTEGER_BITS.start(),
                    INTEGER_BITS.end(),
                    self.frac
                ),
            ));
        }
        Ok(())
    }

    /// Quantises one value on the host: round to nearest (ties to even),
    /// then saturate. Used by tests and reports; tensors use [`fake_quant`].
    pub fn quantise(self, x: f64) -> f64 {
        let code = (x / self.step()).round_ties_even();
        code.clamp(self.min_code() as f64, self.max_code() as f64) * self.step()
    }

    /// Whether `x` lies on the grid and within range.
    pub fn contains(self, x: f64) -> bool {
        let code = x / self.step();
        code == code.round() && code >= self.min_code() as f64 && code <= self.max_code() as f64
    }

    /// `Q<int>.<frac>` notation, e.g. `Q3.5` for 8 bits with 5 fractional;
    /// `UQ<int>.<frac>` unsigned.
    pub fn notation(self) -> String {
        let u = if self.signed { "" } else { "U" };
        format!("{u}Q{}.{}", self.integer_bits(), self.frac)
    }
}

/// Fake-quantises `x` to `format`: the forward value is the grid point, the
/// gradient is 1 inside `[min, max]` and 0 outside (clipped STE).
pub fn fake_quant<const D: usize>(x: Tensor<D>, format: FixedPoint) -> Tensor<D> {
    let step = format.step();
    let clamped = x.clamp(format.min(), format.max());
    let quantised = clamped
        .clone()
        .div_scalar(step)
        .round()
        .mul_scalar(step)
        .detach();
    if clamped.is_tracked() {
        // Value: exactly `quantised` (|q - c| <= step/2 <= |q|/2 or q = 0,
        // so `q - c` and then `c + (q - c)` are exact in floating point);
        // gradient: that of the clamp.
        clamped.clone() + (quantised - clamped).detach()
    } else {
        quantised
    }
}

/// Counts magnitudes by `ceil(log2(|x|))`, which is all the format rules
/// need: memory stays constant however many activations are seen (a
/// CifarNet calibration pass produces tens of millions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagnitudeHistogram {
    /// `counts[e + OFFSET]` counts values with `ceil(log2 |x|) = e`.
    pub counts: Vec<u64>,
    /// Non-zero values counted (zeros never overflow).
    pub total: u64,
}

impl Default for MagnitudeHistogram {
    fn default() -> Self {
        Self {
            counts: vec![0; 2 * Self::OFFSET as usize + 1],
            total: 0,
        }
    }
}

impl MagnitudeHistogram {
    /// Exponents from `-OFFSET` to `OFFSET` are kept apart; others are
    /// clamped into the end buckets.
    pub const OFFSET: i32 = 64;

    /// Counts the non-zero finite values of `values`.
    pub fn add(&mut self, values: &[f32]) {
        for &v in values {
            let a = v.abs();
            if a > 0.0 && a.is_finite() {
                let e = f64::from(a).log2().ceil() as i32;
                let i = (e.clamp(-Self::OFFSET, Self::OFFSET) + Self::OFFSET) as usize;
                self.counts[i] += 1;
                self.total += 1;
            }
        }
    }

    /// The histogram of `values`.
    pub fn of(values: &[f32]) -> Self {
        let mut h = Self::default();
        h.add(values);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_bit_unit_range() {
        let f = FixedPoint::covering(8, 1.0);
        assert_eq!(f.frac, 7);
        assert_eq!(f.min(), -1.0);
        assert_eq!(f.max(), 127.0 / 128.0);
        assert_eq!(f.notation(), "Q1.7");
    }

    #[test]
    fn covering_range_contains_the_maximum_up_to_one_step() {
        for max in [0.003, 0.4, 0.9, 1.5, 3.0, 17.0, 250.0] {
            for bits in [2u8, 4, 8, 16] {
                let f = FixedPoint::covering(bits, max);
                assert!(f.max() + f.step() >= max, "{bits} bits, {max}: {f:?}");
                // And the grid is the finest that does: one more fractional
                // bit would not cover it.
                let finer = FixedPoint {
                    frac: f.frac + 1,
                    ..f
                };
                assert!(finer.max() + finer.step() < max, "{bits} bits, {max}");
            }
        }
    }

    #[test]
    fn overflow_rate_ignores_outliers() {
        let mut v: Vec<f32> = (1..=1000).map(|i| i as f32 / 1000.0).collect();
        v.push(100.0);
        let h = MagnitudeHistogram::of(&v);
        let f = FixedPoint::with_overflow_rate(8, &h, 0.01);
        assert_eq!(f, FixedPoint::covering(8, 0.99));
        let f = FixedPoint::with_overflow_rate(8, &h, 0.0);
        assert_eq!(f, FixedPoint::covering(8, 100.0));
        let f = FixedPoint::with_overflow_rate(8, &MagnitudeHistogram::default(), 0.0);
        assert_eq!(f, FixedPoint::covering(8, 0.0));
    }

    #[test]
    fn every_format_the_rules_produce_passes_check_and_quantises_finitely() {
        for bits in [*BITS.start(), 8, *BITS.end()] {
            for max in [0.0, f64::MIN_POSITIVE, 1e-30, 0.3, 1.0, 1e30, f64::MAX] {
                let f = FixedPoint::covering(bits, max);
                assert_eq!(f.check(), Ok(()), "{f:?}");
                let (step, lo, hi) = (f.step() as f32, f.min() as f32, f.max() as f32);
                assert!(step > 0.0 && step.is_finite() && lo.is_finite() && hi.is_finite());
            }
        }
    }

    #[test]
    fn check_names_the_bad_field() {
        let bad = |bits, frac| {
            FixedPoint {
                bits,
                frac,
                signed: true,
            }
            .check()
            .unwrap_err()
            .0
        };
        assert_eq!(bad(0, 5000), "bits");
        assert_eq!(bad(200, 0), "bits");
        assert_eq!(bad(8, 5000), "frac");
        assert_eq!(bad(8, -5000), "frac");
        assert_eq!(bad(8, 8 + 64), "frac");
        assert_eq!(
            FixedPoint {
                bits: 8,
                frac: 7 + 64,
                signed: true,
            }
            .check(),
            Ok(())
        );
    }

    #[test]
    fn host_quantise_saturates_and_rounds_to_even() {
        let f = FixedPoint {
            bits: 4,
            frac: 1,
            signed: true,
        };
        assert_eq!(f.quantise(0.25), 0.0);
        assert_eq!(f.quantise(0.75), 1.0);
        assert_eq!(f.quantise(100.0), 3.5);
        assert_eq!(f.quantise(-100.0), -4.0);
        assert!(f.contains(-4.0) && f.contains(3.5) && !f.contains(0.25) && !f.contains(4.0));
    }
}
