//! Resource quantities (`100m`, `1Gi`, `1.5`, `2e3`) with exact arithmetic.
//!
//! k8s-openapi's `Quantity` is only a string; [`Quantity`] parses it the way
//! Kubernetes' `resource.ParseQuantity` does and holds the value as an exact integer
//! number of nano-units (precision finer than `1n` is rounded up, away from zero, as
//! Kubernetes does), so `100m + 900m == 1` exactly. It prints in Kubernetes' canonical
//! form, keeping the format it was written in (binary `Ki`..`Ei`, decimal `n`..`E`, or
//! an `e` exponent): `1.5Gi` prints `1536Mi`, `0.1` prints `100m`, `1000` prints `1k`.
//!
//! ```
//! use skiff_core::quantity::Quantity;
//!
//! let a: Quantity = "100m".parse().unwrap();
//! let b: Quantity = "900m".parse().unwrap();
//! assert_eq!((a + b).to_string(), "1");
//! assert!("1Gi".parse::<Quantity>().unwrap() > "1G".parse().unwrap());
//! assert_eq!("1.5Gi".parse::<Quantity>().unwrap().to_string(), "1536Mi");
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::status::ApiError;

/// How a quantity was written, which is how it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantityFormat {
    /// Powers of 1024: `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`.
    BinarySI,
    /// Powers of 1000: `n`, `u`, `m`, (none), `k`, `M`, `G`, `T`, `P`, `E`.
    DecimalSI,
    /// An exponent of ten: `2e3`, `1E6`.
    DecimalExponent,
}

/// A Kubernetes resource quantity with an exact value.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    /// The value in units of 10⁻⁹.
    nanos: i128,
    format: QuantityFormat,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;
const FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

fn format_error() -> ApiError {
    ApiError::bad_request(FORMAT_ERROR)
}

/// 10^exp as i128, if it fits.
fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

/// `numerator / denominator`, rounded away from zero.
fn div_round_up(numerator: i128, denominator: i128) -> i128 {
    let q = numerator / denominator;
    if numerator % denominator == 0 {
        q
    } else if numerator < 0 {
        q - 1
    } else {
        q + 1
    }
}

impl Quantity {
    /// Parses a quantity as Kubernetes does. Errors are `BadRequest` with Kubernetes'
    /// messages.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let split = input
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(input.len());
        // A sign may only lead; `1e-3`'s sign belongs to the suffix.
        let (number, suffix) = input.split_at(split);
        let (negative, digits) = match number.as_bytes().first() {
            Some(b'-') => (true, &number[1..]),
            Some(b'+') => (false, &number[1..]),
            _ => (false, number),
        };
        if digits.is_empty()
            || digits.contains(['+', '-'])
            || digits.matches('.').count() > 1
            || !digits.bytes().any(|b| b.is_ascii_digit())
        {
            return Err(format_error());
        }
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let mantissa_text = format!("{whole}{fraction}");
        let mantissa: i128 = mantissa_text
            .parse()
            .map_err(|_| ApiError::bad_request("quantity too large"))?;
        let fraction_digits = u32::try_from(fraction.len()).map_err(|_| format_error())?;

        let (format, multiplier_num, ten_exp): (QuantityFormat, i128, i32) = match suffix {
            "" => (QuantityFormat::DecimalSI, 1, 0),
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                let power = match suffix {
                    "Ki" => 1,
                    "Mi" => 2,
                    "Gi" => 3,
                    "Ti" => 4,
                    "Pi" => 5,
                    _ => 6,
                };
                (QuantityFormat::BinarySI, 1i128 << (10 * power), 0)
            }
            "n" => (QuantityFormat::DecimalSI, 1, -9),
            "u" => (QuantityFormat::DecimalSI, 1, -6),
            "m" => (QuantityFormat::DecimalSI, 1, -3),
            "k" => (QuantityFormat::DecimalSI, 1, 3),
            "M" => (QuantityFormat::DecimalSI, 1, 6),
            "G" => (QuantityFormat::DecimalSI, 1, 9),
            "T" => (QuantityFormat::DecimalSI, 1, 12),
            "P" => (QuantityFormat::DecimalSI, 1, 15),
            "E" => (QuantityFormat::DecimalSI, 1, 18),
            exp if exp.starts_with(['e', 'E']) => {
                let value: i32 = exp[1..]
                    .parse()
                    .map_err(|_| ApiError::bad_request("unable to parse quantity's suffix"))?;
                (QuantityFormat::DecimalExponent, 1, value)
            }
            _ => return Err(ApiError::bad_request("unable to parse quantity's suffix")),
        };
        // value = mantissa * multiplier * 10^ten_exp / 10^fraction_digits, in nanos.
        let too_large = || ApiError::bad_request("quantity too large");
        let scale = ten_exp + 9 - fraction_digits as i32;
        let base = mantissa.checked_mul(multiplier_num).ok_or_else(too_large)?;
        let nanos = if scale >= 0 {
            let factor = pow10(scale as u32).ok_or_else(too_large)?;
            base.checked_mul(factor).ok_or_else(too_large)?
        } else {
            match pow10((-scale) as u32) {
                Some(divisor) => div_round_up(base, divisor),
                // Far below a nano: rounds up to one nano unless zero.
                None => i128::from(base != 0),
            }
        };
        Ok(Self {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }

    /// A quantity of whole units in the given format.
    pub fn from_units(units: i64, format: QuantityFormat) -> Self {
        Self {
            nanos: i128::from(units) * NANOS_PER_UNIT,
            format,
        }
    }

    /// A quantity of thousandths (`millis(250)` is `250m`), decimal.
    pub fn from_millis(millis: i64) -> Self {
        Self {
            nanos: i128::from(millis) * 1_000_000,
            format: QuantityFormat::DecimalSI,
        }
    }

    /// The format the quantity prints in.
    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    /// The exact value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The value in whole units, rounded up (Kubernetes' `Value()`); saturates at the
    /// `i64` range.
    pub fn value(&self) -> i64 {
        clamp(div_round_up(self.nanos, NANOS_PER_UNIT))
    }

    /// The value in thousandths, rounded up (Kubernetes' `MilliValue()`).
    pub fn milli_value(&self) -> i64 {
        clamp(div_round_up(self.nanos, 1_000_000))
    }

    /// The value as a float (for display and scoring, not for arithmetic).
    pub fn as_f64(&self) -> f64 {
        self.nanos as f64 / NANOS_PER_UNIT as f64
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// `self + other` in `self`'s format; `None` on overflow.
    pub fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        Some(Self {
            nanos: self.nanos.checked_add(other.nanos)?,
            format: self.format,
        })
    }

    /// `self - other` in `self`'s format; `None` on overflow.
    pub fn checked_sub(&self, other: &Quantity) -> Option<Quantity> {
        Some(Self {
            nanos: self.nanos.checked_sub(other.nanos)?,
            format: self.format,
        })
    }

    /// The quantity as k8s-openapi's string type.
    pub fn to_k8s(&self) -> k8s_openapi::apimachinery::pkg::api::resource::Quantity {
        k8s_openapi::apimachinery::pkg::api::resource::Quantity(self.to_string())
    }

    /// Parses k8s-openapi's string type.
    pub fn from_k8s(
        q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity,
    ) -> Result<Self, ApiError> {
        Self::parse(&q.0)
    }
}

fn clamp(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

impl PartialEq for Quantity {
    /// Quantities are equal when their values are (`1k == 1000`), whatever the format.
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;

    /// Adds exactly, saturating at ±1.7e29 units (never reached by real quantities;
    /// [`Quantity::checked_add`] reports it instead).
    fn add(self, other: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_add(other.nanos),
            format: self.format,
        }
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;

    /// Subtracts exactly, saturating like [`Add`](std::ops::Add); see
    /// [`Quantity::checked_sub`].
    fn sub(self, other: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_sub(other.nanos),
            format: self.format,
        }
    }
}

impl FromStr for Quantity {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Writes the decimal form: the largest power of 1000 (or of ten with exponents a
/// multiple of three) that keeps the mantissa whole.
fn write_decimal(f: &mut fmt::Formatter<'_>, nanos: i128, exponent_form: bool) -> fmt::Result {
    if nanos == 0 {
        return f.write_str("0");
    }
    let mut exp = -9i32;
    let mut mantissa = nanos;
    while exp < 18 && mantissa % 1000 == 0 {
        mantissa /= 1000;
        exp += 3;
    }
    if exponent_form {
        if exp == 0 {
            write!(f, "{mantissa}")
        } else {
            write!(f, "{mantissa}e{exp}")
        }
    } else {
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => "E",
        };
        write!(f, "{mantissa}{suffix}")
    }
}

impl fmt::Display for Quantity {
    /// Kubernetes' canonical form in the quantity's format. Binary quantities with a
    /// fractional value print in decimal form, as in Kubernetes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format {
            QuantityFormat::BinarySI if self.nanos % NANOS_PER_UNIT == 0 => {
                let mut units = self.nanos / NANOS_PER_UNIT;
                if units == 0 {
                    return f.write_str("0");
                }
                let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
                let mut i = 0;
                while i + 1 < suffixes.len() && units % 1024 == 0 {
                    units /= 1024;
                    i += 1;
                }
                write!(f, "{units}{}", suffixes[i])
            }
            QuantityFormat::DecimalExponent => write_decimal(f, self.nanos, true),
            _ => write_decimal(f, self.nanos, false),
        }
    }
}

impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Quantity::parse(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_and_prints_canonically() {
        // (input, canonical form), after Kubernetes' quantity tests.
        let cases = [
            ("0", "0"),
            ("0n", "0"),
            ("0Ki", "0"),
            ("1", "1"),
            ("100m", "100m"),
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("0.1", "100m"),
            ("0.001", "1m"),
            ("1.5", "1500m"),
            ("1000", "1k"),
            ("1k", "1k"),
            ("1M", "1M"),
            ("1G", "1G"),
            ("1T", "1T"),
            ("1P", "1P"),
            ("1E", "1E"),
            ("1000E", "1000E"),
            ("1n", "1n"),
            ("1u", "1u"),
            ("1000u", "1m"),
            ("1Ki", "1Ki"),
            ("1024", "1024"),
            ("1024Ki", "1Mi"),
            ("1Gi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Ki", "512"),
            ("1.5Ki", "1536"),
            ("1Ei", "1Ei"),
            ("0.1Ki", "102400m"),
            ("2e3", "2e3"),
            ("1e3", "1e3"),
            ("1E6", "1e6"),
            ("1e0", "1"),
            ("1000e0", "1e3"),
            ("1e-3", "1e-3"),
            ("100e-3", "100e-3"),
            ("-1", "-1"),
            ("-100m", "-100m"),
            ("+5", "5"),
            ("-1.5Gi", "-1536Mi"),
            (".5", "500m"),
            ("5.", "5"),
            ("0.0000000001", "1n"),
            ("1.0000000001", "1000000001n"),
        ];
        for (input, want) in cases {
            assert_eq!(q(input).to_string(), want, "{input}");
            assert_eq!(q(want), q(input), "{want} parses to the same value");
        }
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for bad in [
            "", "x", "1x", "1.2.3", "--1", "1-", "+", ".", "1KiB", "1e", "1ee3", "Ki", "1 Gi",
            " 1", "1mi", "e3",
        ] {
            let err = Quantity::parse(bad).expect_err(bad);
            assert_eq!(err.code, 400, "{bad}");
        }
        assert_eq!(
            Quantity::parse("1x").unwrap_err().message,
            "unable to parse quantity's suffix"
        );
        assert!(Quantity::parse("1e100").is_err(), "too large");
    }

    #[test]
    fn exact_arithmetic_and_ordering() {
        assert_eq!(q("100m") + q("900m"), q("1"));
        assert_eq!((q("100m") + q("900m")).to_string(), "1");
        assert_eq!((q("1Gi") - q("512Mi")).to_string(), "512Mi");
        assert_eq!((q("0.1") + q("0.2")), q("300m"));
        assert_eq!(q("1k"), q("1000"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("999m") < q("1"));
        assert!(q("-1") < q("0"));
        assert_eq!(q("1Ei").checked_add(&q("1Ei")).unwrap().to_string(), "2Ei");
        let mut sorted = [q("2"), q("1500m"), q("1Ki"), q("1k")];
        sorted.sort();
        assert_eq!(
            sorted.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["1500m", "2", "1k", "1Ki"]
        );
    }

    #[test]
    fn values_round_up() {
        assert_eq!(q("1500m").value(), 2);
        assert_eq!(q("1").value(), 1);
        assert_eq!(q("1.1m").milli_value(), 2);
        assert_eq!(q("250m").milli_value(), 250);
        assert_eq!(q("1Gi").value(), 1 << 30);
        assert_eq!(q("-1500m").value(), -2);
        assert_eq!(Quantity::from_millis(250).to_string(), "250m");
        assert_eq!(
            Quantity::from_units(2048, QuantityFormat::BinarySI).to_string(),
            "2Ki"
        );
        assert!((q("1500m").as_f64() - 1.5).abs() < 1e-12);
    }

    #[test]
    fn serde_and_k8s_openapi() {
        let v: Quantity = serde_json::from_value(serde_json::json!("1.5Gi")).unwrap();
        assert_eq!(
            serde_json::to_value(v).unwrap(),
            serde_json::json!("1536Mi")
        );
        assert!(serde_json::from_value::<Quantity>(serde_json::json!("nope")).is_err());
        let k = k8s_openapi::apimachinery::pkg::api::resource::Quantity("500m".into());
        assert_eq!(Quantity::from_k8s(&k).unwrap().to_k8s(), k);
    }
}
