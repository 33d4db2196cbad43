//! Kubernetes resource quantities (`500m`, `1Gi`, `1e3`) and plain JSON numbers, compared by
//! exact value so that `1000m` = `1`, `1Gi` = `1024Mi` and `1` = `1.0`.

use serde_json::Value;

/// An exact quantity value: `sign * odd_part * 2^twos * 5^fives`, or zero.
///
/// Every power of ten and of 1024 factors into twos and fives, so two quantities are equal
/// exactly when their canonical factorizations are, with no rounding anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantity {
    negative: bool,
    /// What is left of the digits after all factors 2 and 5 are taken out; 0 for zero.
    rest: u128,
    twos: i64,
    fives: i64,
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
        let (mut exp10, exp2): (i64, i64) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            _ => {
                let exponent = suffix
                    .strip_prefix('e')
                    .or_else(|| suffix.strip_prefix('E'))?;
                let (exp_negative, exp_digits) = split_sign(exponent);
                if exp_digits.is_empty() || !exp_digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let magnitude: i64 = exp_digits.parse().ok()?;
                (if exp_negative { -magnitude } else { magnitude }, 0)
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
        })
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
        for text in ["", "abc", "1Xi", "1e", "1e+", ".", "1.2.3", "--1", "1 Gi"] {
            assert_eq!(Quantity::parse(text), None, "{text:?}");
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
    }
}
