//! Kubernetes resource quantities (`500m`, `1Gi`, `1e3`) and plain JSON numbers, compared by
//! exact value so that `1000m` = `1`, `1Gi` = `1024Mi` and `1` = `1.0`, and printed in the
//! canonical form kube-apiserver stores after `SetDefaults_ResourceList` (`0.5` → `500m`,
//! `1024Mi` → `1Gi`), following `apimachinery/pkg/api/resource/quantity.go`
//! (`CanonicalizeBytes`, `AsCanonicalBytes`, `AsCanonicalBase1024Bytes`).

use std::hash::{Hash, Hasher};

use serde_json::Value;

/// How a quantity was written, which its canonical form keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `Ki`, `Mi`, … suffixes.
    BinarySi,
    /// `m`, `k`, `M`, … suffixes or none.
    DecimalSi,
    /// `e3`, `E6` exponents.
    DecimalExponent,
}

/// An exact quantity value: `sign * odd_part * 2^twos * 5^fives`, or zero.
///
/// Every power of ten and of 1024 factors into twos and fives, so two quantities are equal
/// exactly when their canonical factorizations are, with no rounding anywhere. Equality and
/// hashing look at the value only, not at how it was written.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    negative: bool,
    /// What is left of the digits after all factors 2 and 5 are taken out; 0 for zero.
    rest: u128,
    twos: i64,
    fives: i64,
    /// The suffix family it was written with, for [`Quantity::canonical`].
    format: Format,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.value_parts() == other.value_parts()
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value_parts().hash(state);
    }
}

impl Quantity {
    /// Parses the Kubernetes quantity grammar: sign, decimal number, then a binary suffix
    /// (`Ki`..`Ei`), a decimal SI suffix (`n`, `u`, `m`, `k`, `M`..`E`) or an exponent (`e3`).
    /// `None` for anything else (including mantissas too long to hold exactly).
    pub fn parse(text: &str) -> Option<Quantity> {
        let text = text.trim();
        let (negative, unsigned) = split_sign(text);
        let number_end = unsigned
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(unsigned.len());
        let (number, suffix) = unsigned.split_at(number_end);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let (mut exp10, exp2, format): (i64, i64, Format) = match suffix {
            "" => (0, 0, Format::DecimalSi),
            "n" => (-9, 0, Format::DecimalSi),
            "u" => (-6, 0, Format::DecimalSi),
            "m" => (-3, 0, Format::DecimalSi),
            "k" => (3, 0, Format::DecimalSi),
            "M" => (6, 0, Format::DecimalSi),
            "G" => (9, 0, Format::DecimalSi),
            "T" => (12, 0, Format::DecimalSi),
            "P" => (15, 0, Format::DecimalSi),
            "E" => (18, 0, Format::DecimalSi),
            "Ki" => (0, 10, Format::BinarySi),
            "Mi" => (0, 20, Format::BinarySi),
            "Gi" => (0, 30, Format::BinarySi),
            "Ti" => (0, 40, Format::BinarySi),
            "Pi" => (0, 50, Format::BinarySi),
            "Ei" => (0, 60, Format::BinarySi),
            _ => {
                let exponent = suffix
                    .strip_prefix('e')
                    .or_else(|| suffix.strip_prefix('E'))?;
                let (exp_negative, exp_digits) = split_sign(exponent);
                if exp_digits.is_empty() || !exp_digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let magnitude: i64 = exp_digits.parse().ok()?;
                (
                    if exp_negative { -magnitude } else { magnitude },
                    0,
                    Format::DecimalExponent,
                )
            }
        };
        let digits = format!("{int_part}{frac_part}");
        exp10 -= i64::try_from(frac_part.len()).ok()?;
        let digits = digits.trim_start_matches('0');
        let trimmed = digits.trim_end_matches('0');
        exp10 += i64::try_from(digits.len() - trimmed.len()).ok()?;
        if trimmed.is_empty() {
            return Some(Quantity {
                negative: false,
                rest: 0,
                twos: 0,
                fives: 0,
                format,
            });
        }
        let mut rest: u128 = trimmed.parse().ok()?;
        let mut twos = exp10 + exp2;
        let mut fives = exp10;
        while rest.is_multiple_of(2) {
            rest /= 2;
            twos += 1;
        }
        while rest.is_multiple_of(5) {
            rest /= 5;
            fives += 1;
        }
        Some(Quantity {
            negative,
            rest,
            twos,
            fives,
            format,
        })
    }

    /// The exact value, without the format.
    fn value_parts(&self) -> (bool, u128, i64, i64) {
        (self.negative, self.rest, self.twos, self.fives)
    }

    /// The magnitude in thousandths, rounded up (away from zero) as `SetDefaults_ResourceList`
    /// rounds to milli scale; `None` when it does not fit in a `u128`.
    fn milli_magnitude(&self) -> Option<u128> {
        if self.rest == 0 {
            return Some(0);
        }
        let twos = self.twos.checked_add(3)?;
        let fives = self.fives.checked_add(3)?;
        let numerator = self
            .rest
            .checked_mul(power(2, twos.max(0))?)?
            .checked_mul(power(5, fives.max(0))?)?;
        let denominator =
            power(2, (-twos).max(0)).and_then(|d| d.checked_mul(power(5, (-fives).max(0))?));
        Some(match denominator {
            Some(denominator) => numerator.div_ceil(denominator),
            // Larger than any numerator: a positive value below one thousandth rounds up to it.
            None => 1,
        })
    }

    /// The canonical text (`Quantity.String()` after milli rounding): `0.5` → `500m`,
    /// `1024Mi` → `1Gi`, `1e3` stays `1e3`; `None` when the value is too large to print.
    pub fn canonical(&self) -> Option<String> {
        let abs = self.milli_magnitude()?;
        let sign = if self.negative && abs != 0 { "-" } else { "" };
        let mut format = self.format;
        if format == Format::BinarySi && (abs < 1024 * 1000 || abs % 1000 != 0) {
            // Small or fractional binary values print as decimal, avoiding rounding.
            format = Format::DecimalSi;
        }
        if format == Format::BinarySi {
            let mut n = abs / 1000;
            let mut k = 0;
            while k < 6 && n % 1024 == 0 {
                n /= 1024;
                k += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
            return Some(format!("{sign}{n}{suffix}"));
        }
        if abs == 0 {
            return Some("0".into());
        }
        let mut mantissa = abs;
        let mut exp = -3i32;
        while mantissa % 1000 == 0 && exp < 18 {
            mantissa /= 1000;
            exp += 3;
        }
        let suffix = match format {
            Format::DecimalExponent if exp == 0 => String::new(),
            Format::DecimalExponent => format!("e{exp}"),
            _ => match exp {
                -3 => "m",
                0 => "",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                _ => "E",
            }
            .to_string(),
        };
        Some(format!("{sign}{mantissa}{suffix}"))
    }

    /// Reads a quantity from a JSON string or number.
    pub fn from_json(value: &Value) -> Option<Quantity> {
        match value {
            Value::String(text) => Quantity::parse(text),
            Value::Number(number) => Quantity::parse(&number.to_string()),
            _ => None,
        }
    }
}

/// `base^exponent`, `None` on overflow.
fn power(base: u128, exponent: i64) -> Option<u128> {
    base.checked_pow(u32::try_from(exponent).ok()?)
}

/// The canonical text of a quantity (see [`Quantity::canonical`]), or `None` when `text` is not
/// a quantity.
pub fn canonical(text: &str) -> Option<String> {
    Quantity::parse(text)?.canonical()
}

fn split_sign(text: &str) -> (bool, &str) {
    if let Some(rest) = text.strip_prefix('-') {
        (true, rest)
    } else {
        (false, text.strip_prefix('+').unwrap_or(text))
    }
}

/// Whether two JSON numbers hold the same value (`1` = `1.0` = `1e0`).
pub fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if a == b {
        return true;
    }
    match (
        Quantity::parse(&a.to_string()),
        Quantity::parse(&b.to_string()),
    ) {
        (Some(qa), Some(qb)) => qa == qb,
        _ => false,
    }
}

/// Whether two JSON values are equal, numbers by value (`1` = `1.0`), anything else exactly.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        _ => a == b,
    }
}

/// Whether two JSON values are the same quantity; falls back to plain equality when either
/// is not a quantity.
pub fn quantities_equal(a: &Value, b: &Value) -> bool {
    match (Quantity::from_json(a), Quantity::from_json(b)) {
        (Some(qa), Some(qb)) => qa == qb,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantity_equality_table() {
        let cases = [
            ("1000m", "1", true),
            ("1Gi", "1024Mi", true),
            ("0.5", "500m", true),
            ("1e3", "1k", true),
            ("1E3", "1000", true),
            (".5", "500m", true),
            ("1.", "1", true),
            ("+2", "2", true),
            ("-1", "-1000m", true),
            ("0", "0m", true),
            ("0Gi", "-0", true),
            ("1Ki", "1024", true),
            ("1.5Gi", "1536Mi", true),
            ("100n", "0.1u", true),
            ("1e-3", "1m", true),
            ("1", "2", false),
            ("1Gi", "1G", false),
            ("-1", "1", false),
            ("128Mi", "129Mi", false),
            ("250m", "0.26", false),
        ];
        for (a, b, equal) in cases {
            let qa = Quantity::parse(a).unwrap_or_else(|| panic!("{a} parses"));
            let qb = Quantity::parse(b).unwrap_or_else(|| panic!("{b} parses"));
            assert_eq!(qa == qb, equal, "{a} vs {b}");
        }
    }

    #[test]
    fn invalid_quantities_are_rejected() {
        for text in [
            "", "abc", "1Xi", "1Qi", "1e", "1e+", ".", "1.2.3", "--1", "1 Gi",
        ] {
            assert_eq!(Quantity::parse(text), None, "{text:?}");
            assert_eq!(canonical(text), None, "{text:?}");
        }
    }

    #[test]
    fn json_numbers_and_strings() {
        assert!(quantities_equal(&json!(1), &json!("1000m")));
        assert!(quantities_equal(&json!(0.5), &json!("500m")));
        assert!(!quantities_equal(&json!("1"), &json!("2")));
        assert!(!quantities_equal(&json!("web"), &json!("db")));
        assert!(quantities_equal(&json!("web"), &json!("web")));
        let one: serde_json::Number = serde_json::from_str("1").unwrap();
        let one_float: serde_json::Number = serde_json::from_str("1.0").unwrap();
        let two: serde_json::Number = serde_json::from_str("2").unwrap();
        assert!(numbers_equal(&one, &one_float));
        assert!(!numbers_equal(&one, &two));
        assert!(values_equal(&json!(1), &json!(1.0)));
        assert!(!values_equal(&json!(1), &json!("1")));
        assert!(values_equal(&json!("web"), &json!("web")));
    }

    // Expectations from apimachinery/pkg/api/resource/quantity_test.go (TestQuantityParse,
    // canonical forms) with milli rounding as SetDefaults_ResourceList applies it.
    #[test]
    fn canonical_forms() {
        let cases = [
            ("0", "0"),
            ("0.5", "500m"),
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("100m", "100m"),
            ("2", "2"),
            ("1.5", "1500m"),
            ("0.0001", "1m"),
            ("100000", "100k"),
            ("1k", "1k"),
            ("1000k", "1M"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("2048Ki", "2Mi"),
            ("0.5Gi", "512Mi"),
            ("512", "512"),
            ("0.5Ki", "512"),
            ("1e3", "1e3"),
            ("1E6", "1e6"),
            ("1.5e3", "1500"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("129M", "129M"),
            ("123Mi", "123Mi"),
            ("-1", "-1"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(input).as_deref(), Some(want), "{input}");
        }
    }
}
