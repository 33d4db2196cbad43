//! Resource quantities as kube-apiserver stores them: `SetDefaults_ResourceList` rounds up to
//! milli precision and `resource.Quantity` serializes in canonical form (`0.5` → `500m`,
//! `1024Mi` → `1Gi`, `1000m` → `1`), following `apimachinery/pkg/api/resource/quantity.go`
//! (`CanonicalizeBytes`, `AsCanonicalBytes`, `AsCanonicalBase1024Bytes`).

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

/// A parsed quantity: its value in thousandths, rounded up, and its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Milli {
    value: i128,
    format: Format,
}

/// Parses a quantity string (`resource.ParseQuantity` grammar); `None` when malformed.
fn parse(s: &str) -> Option<Milli> {
    let s = s.trim();
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(num_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    // The decimal digits as an integer mantissa with a base-10 exponent.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 30 {
        return None;
    }
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut pow1024: u32 = 0;
    let format = match suffix {
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            pow1024 = match suffix {
                "Ki" => 1,
                "Mi" => 2,
                "Gi" => 3,
                "Ti" => 4,
                "Pi" => 5,
                _ => 6,
            };
            Format::BinarySi
        }
        "n" | "u" | "m" | "" | "k" | "M" | "G" | "T" | "P" | "E" => {
            exp10 += match suffix {
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "" => 0,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                _ => 18,
            };
            Format::DecimalSi
        }
        _ => {
            let e = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            exp10 += e.parse::<i32>().ok()?;
            Format::DecimalExponent
        }
    };
    // value * 1000, rounded up (SetDefaults_ResourceList rounds to milli scale).
    let mut numerator = mantissa.checked_mul(1024i128.checked_pow(pow1024)?)?;
    let scale = exp10 + 3;
    let value = if scale >= 0 {
        numerator = numerator.checked_mul(10i128.checked_pow(scale as u32)?)?;
        numerator
    } else {
        let div = 10i128.checked_pow((-scale) as u32)?;
        (numerator + div - 1) / div
    };
    Some(Milli {
        value: if negative { -value } else { value },
        format,
    })
}

/// The canonical text of a quantity (`Quantity.String()` after milli rounding), or `None` when
/// `s` is not a quantity.
pub fn canonical(s: &str) -> Option<String> {
    let q = parse(s)?;
    let sign = if q.value < 0 { "-" } else { "" };
    let abs = q.value.abs();
    let mut format = q.format;
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
        Format::DecimalExponent => {
            if exp == 0 {
                String::new()
            } else {
                format!("e{exp}")
            }
        }
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

/// Canonicalizes every quantity of a `ResourceList` object in place (numbers become strings,
/// as `Quantity` serializes them); values that do not parse are left for validation.
pub fn canonicalize_list(list: &mut Value) {
    let Some(map) = list.as_object_mut() else {
        return;
    };
    for v in map.values_mut() {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        if let Some(c) = canonical(&text) {
            *v = Value::String(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn malformed_quantities_are_rejected() {
        for bad in ["", "abc", "1.2.3", "1Qi", "1e", "."] {
            assert_eq!(canonical(bad), None, "{bad}");
        }
    }

    #[test]
    fn lists_canonicalize_numbers_and_strings() {
        let mut list = serde_json::json!({"cpu": 0.5, "memory": "1024Mi", "odd": "x"});
        canonicalize_list(&mut list);
        assert_eq!(
            list,
            serde_json::json!({"cpu": "500m", "memory": "1Gi", "odd": "x"})
        );
    }
}
