//! Numbers from JSON numbers and text: whole numbers with range checks, floats that stay
//! finite, and varint and decimal of any size and precision as the driver's bytes (a JSON
//! number beyond 2^53 that was read as a double has lost digits, so it is refused unless
//! it arrives as text or through the exact parse).

use super::{shown, text_of, Field};
use scylla::value::{CqlDecimal, CqlVarint};
use serde_json::Value;

/// Whole numbers up to this size are exact in a double.
const EXACT_IN_F64: f64 = 9_007_199_254_740_992.0;

/// Most digits a varint or decimal may have (converting them is quadratic in their count).
const MAX_DIGITS: usize = 4096;

/// A whole number within `min..=max`, from a JSON number, text, or a time (its epoch
/// milliseconds, as `kafka.timestamp` into a bigint column).
pub(in crate::stream) fn whole(v: Field<'_>, min: i64, max: i64) -> Result<i64, String> {
    let n = match v {
        Field::Json(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i,
            (None, Some(f)) => whole_of_f64(f, &n.to_string(), min, max)?,
            (None, None) => return Err(format!("{n} is not a whole number")),
        },
        Field::Time(t) => t.timestamp_millis(),
        Field::Int(n) => n,
        Field::Text(s) => {
            let t = s.trim();
            match (t.parse::<i64>(), t.parse::<f64>()) {
                (Ok(i), _) => i,
                (Err(_), Ok(f)) if !t.is_empty() => whole_of_f64(f, t, min, max)?,
                _ => return Err(format!("{} is not a whole number", shown_text(s))),
            }
        }
        other => return Err(format!("{} is not a whole number", shown_field(other))),
    };
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is out of range ({min} to {max})"))
    }
}

fn whole_of_f64(f: f64, text: &str, min: i64, max: i64) -> Result<i64, String> {
    if !f.is_finite() || f.fract() != 0.0 {
        return Err(format!("{text} is not a whole number"));
    }
    if f < min as f64 || f > max as f64 {
        return Err(format!("{text} is out of range ({min} to {max})"));
    }
    if f.abs() > EXACT_IN_F64 {
        return Err(format!(
            "{text} is beyond 2^53 and may have lost digits as a JSON number \
             (send it as a string of digits)"
        ));
    }
    Ok(f as i64)
}

/// A finite double from a JSON number or text: a value beyond the type's range (JSON
/// `1e39` for a float, text `1e400` for a double) would become infinity, which is no
/// number the record holds; NaN is no number either.
pub(super) fn finite(v: Field<'_>) -> Result<f64, String> {
    let n = match v {
        Field::Json(Value::Number(n)) => {
            n.as_f64().ok_or_else(|| format!("{n} is not a number"))?
        }
        Field::Text(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{} is not a number", shown_text(s)))?,
        Field::Int(n) => n as f64,
        other => return Err(format!("{} is not a number", shown_field(other))),
    };
    if n.is_finite() {
        Ok(n)
    } else {
        Err(format!("{n} is not a finite number"))
    }
}

/// An integer of any size: a JSON number, or text of digits (also `1e3`, `12.0`).
pub(super) fn varint(v: Field<'_>) -> Result<CqlVarint, String> {
    let d = decimal_parts(v)?;
    let digits = whole_digits(&d).ok_or_else(|| format!("{} is not a whole number", d.text))?;
    Ok(CqlVarint::from_signed_bytes_be(signed_bytes(
        d.negative, &digits,
    )))
}

/// A decimal with every digit it was written with (`12.50` keeps its scale 2).
pub(super) fn decimal(v: Field<'_>) -> Result<CqlDecimal, String> {
    let d = decimal_parts(v)?;
    let scale =
        i32::try_from(d.scale).map_err(|_| format!("{} has an exponent out of range", d.text))?;
    Ok(CqlDecimal::from_signed_be_bytes_and_exponent(
        signed_bytes(d.negative, &d.digits),
        scale,
    ))
}

/// A number as digits and a scale: value = digits * 10^-scale.
struct Parts {
    negative: bool,
    digits: String,
    scale: i64,
    /// The text it was read from, for messages.
    text: String,
}

fn decimal_parts(v: Field<'_>) -> Result<Parts, String> {
    let text = match v {
        Field::Json(Value::Number(n)) => {
            if n.as_f64().is_some_and(|f| {
                f.abs() > EXACT_IN_F64 && n.as_i64().is_none() && n.as_u64().is_none()
            }) {
                return Err(format!(
                    "{n} is beyond 2^53 and may have lost digits as a JSON number \
                     (send it as a string of digits)"
                ));
            }
            n.to_string()
        }
        Field::Text(s) => s.trim().to_string(),
        Field::Time(t) => t.timestamp_millis().to_string(),
        Field::Int(n) => n.to_string(),
        other => return Err(format!("{} is not a number", shown_field(other))),
    };
    parse_parts(&text).ok_or_else(|| format!("{} is not a number", shown_text(&text)))
}

/// `[+-]digits[.digits][e[+-]digits]`, at least one digit before the exponent.
fn parse_parts(text: &str) -> Option<Parts> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    if int.len() + frac.len() > MAX_DIGITS {
        return None;
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || digits.len() > 10 || !all_digits(digits) {
                return None;
            }
            e.parse().ok()?
        }
    };
    let joined = format!("{int}{frac}");
    let digits = joined.trim_start_matches('0').to_string();
    Some(Parts {
        negative: negative && !digits.is_empty(),
        digits,
        scale: frac.len() as i64 - exponent,
        text: text.to_string(),
    })
}

/// The digits of a whole number (`12.0` -> `12`, `1e3` -> `1000`), None if it has a fraction.
fn whole_digits(p: &Parts) -> Option<String> {
    if p.scale > 0 {
        let cut = p.digits.len().checked_sub(p.scale as usize);
        let (keep, fraction) = match cut {
            Some(cut) => p.digits.split_at(cut),
            None => ("", p.digits.as_str()),
        };
        fraction
            .bytes()
            .all(|b| b == b'0')
            .then(|| keep.to_string())
    } else if p.digits.is_empty() {
        Some(String::new())
    } else {
        let zeros = usize::try_from(-p.scale).ok()?;
        if p.digits.len() + zeros > MAX_DIGITS {
            return None;
        }
        Some(format!("{}{}", p.digits, "0".repeat(zeros)))
    }
}

/// Decimal digits (no sign) as big-endian two's complement bytes of minimal length.
fn signed_bytes(negative: bool, digits: &str) -> Vec<u8> {
    // The magnitude, little-endian base 256.
    let mut bytes: Vec<u8> = Vec::with_capacity(digits.len() / 2 + 2);
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for b in bytes.iter_mut() {
            let x = u32::from(*b) * 10 + carry;
            *b = x as u8;
            carry = x >> 8;
        }
        while carry > 0 {
            bytes.push(carry as u8);
            carry >>= 8;
        }
    }
    if negative && bytes.iter().any(|b| *b != 0) {
        let mut carry = 1u16;
        for b in bytes.iter_mut() {
            let x = u16::from(!*b) + carry;
            *b = x as u8;
            carry = x >> 8;
        }
        bytes.push(0xFF);
    } else {
        bytes.push(0);
    }
    while let [.., next, top] = bytes[..] {
        let redundant = (top == 0 && next & 0x80 == 0) || (top == 0xFF && next & 0x80 != 0);
        if !redundant {
            break;
        }
        bytes.pop();
    }
    bytes.reverse();
    bytes
}

fn shown_text(s: &str) -> String {
    shown(&Value::String(s.to_string()))
}

fn shown_field(v: Field<'_>) -> String {
    match v {
        Field::Json(j) => shown(j),
        other => shown_text(&text_of(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes_of(n: i128) -> Vec<u8> {
        signed_bytes(n < 0, &n.unsigned_abs().to_string())
    }

    #[test]
    fn varint_bytes_are_minimal_twos_complement() {
        assert_eq!(bytes_of(0), [0]);
        assert_eq!(bytes_of(1), [1]);
        assert_eq!(bytes_of(127), [0x7F]);
        assert_eq!(bytes_of(128), [0x00, 0x80]);
        assert_eq!(bytes_of(-1), [0xFF]);
        assert_eq!(bytes_of(-128), [0x80]);
        assert_eq!(bytes_of(-129), [0xFF, 0x7F]);
        assert_eq!(bytes_of(-256), [0xFF, 0x00]);
        for n in [
            i64::MAX as i128,
            i64::MIN as i128,
            1 << 100,
            -(1 << 100) - 7,
        ] {
            let expect = n.to_be_bytes();
            let got = bytes_of(n);
            let pad = if n < 0 { 0xFF } else { 0 };
            let mut full = vec![pad; 16 - got.len()];
            full.extend(&got);
            assert_eq!(full, expect, "{n}");
        }
        assert_eq!(signed_bytes(false, "000123"), [123]);
    }

    #[test]
    fn decimals_keep_their_digits_and_scale() {
        let p = parse_parts("12345678901234567890.123456789").expect("parses");
        assert_eq!(
            (p.negative, p.digits.as_str(), p.scale),
            (false, "12345678901234567890123456789", 9)
        );
        let p = parse_parts("-12.50").expect("parses");
        assert_eq!((p.negative, p.digits.as_str(), p.scale), (true, "1250", 2));
        let p = parse_parts("1.5e-3").expect("parses");
        assert_eq!((p.digits.as_str(), p.scale), ("15", 4));
        let p = parse_parts("2E+3").expect("parses");
        assert_eq!((p.digits.as_str(), p.scale), ("2", -3));
        for bad in [
            "", "-", ".", "1.2.3", "1e", "e5", "0x10", "1_000", "NaN", "inf", " 1",
        ] {
            assert!(parse_parts(bad).is_none(), "{bad:?}");
        }
        assert!(parse_parts(&"9".repeat(MAX_DIGITS + 1)).is_none());
        assert!(decimal(Field::Text("1e99999999999")).is_err());
        assert!(decimal(Field::Text("1e-3000000000")).is_err());
    }

    #[test]
    fn whole_numbers_from_any_spelling() {
        let v = |s: &str| varint(Field::Text(s)).map(|v| v.as_signed_bytes_be_slice().to_vec());
        assert_eq!(v("1e3"), Ok(vec![0x03, 0xE8]));
        assert_eq!(v("1000.000"), Ok(vec![0x03, 0xE8]));
        assert_eq!(v("-0"), Ok(vec![0]));
        assert!(v("1.5").is_err());
        assert!(v("abc").is_err());
        let big = "123456789012345678901234567890123456789";
        assert_eq!(v(big).map(|b| b.len()), Ok(16));
        assert_eq!(whole(Field::Json(&json!(42.0)), 0, 100), Ok(42));
        assert_eq!(whole(Field::Text(" 7 "), 0, 100), Ok(7));
        assert!(whole(Field::Json(&json!(4.5)), 0, 100).is_err());
        let err = whole(Field::Json(&json!(1e17)), i64::MIN, i64::MAX).unwrap_err();
        assert!(err.contains("2^53"), "{err}");
        let err = varint(Field::Json(&json!(1e20))).unwrap_err();
        assert!(err.contains("string of digits"), "{err}");
        assert_eq!(
            whole(Field::Json(&json!(u64::MAX)), i64::MIN, i64::MAX).unwrap_err(),
            format!(
                "{} is out of range ({} to {})",
                u64::MAX,
                i64::MIN,
                i64::MAX
            )
        );
    }
}
