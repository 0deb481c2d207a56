//! A CSV line without quotes deserialized straight from its fields: split at its commas into
//! offsets (no `csv::StringRecord` built, no bytes copied) and read by a serde deserializer
//! that takes the fields in order, as csv's own deserializer does (headers as map keys).
//!
//! It is a fast path only: whatever it does not handle, or any field that does not parse, it
//! declines ([`Declined`]), and the caller decodes the line with the csv crate, whose result
//! (and error message) is the reference. So it never accepts a line the csv crate would
//! reject, nor reads a field differently: integers in decimal are parsed here, every other
//! form (`0x1F`) and every other type it does not know (`deserialize_any`, enums, bytes) is
//! declined.

use serde::Deserializer;
use serde::de::value::BorrowedBytesDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// The fast path declined a line: decode it with the csv crate.
#[derive(Debug)]
pub(crate) struct Declined;

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("declined by the quick CSV path")
    }
}

impl std::error::Error for Declined {}

impl de::Error for Declined {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        Declined
    }
}

/// The end offsets of the comma-separated fields of `line` (which has no `"`) into `ends`.
pub(crate) fn split_fields(line: &str, ends: &mut Vec<usize>) {
    ends.clear();
    ends.extend(memchr::memchr_iter(b',', line.as_bytes()));
    ends.push(line.len());
}

/// Deserializes a record from the fields of `line` that end at `ends` (see [`split_fields`]),
/// named by `headers` when the input has a header line.
pub(crate) fn deserialize<'a, T: serde::Deserialize<'a>>(
    line: &'a str,
    ends: &'a [usize],
    headers: Option<&'a csv::StringRecord>,
) -> Result<T, Declined> {
    let mut fields = Fields {
        line,
        ends,
        next: 0,
        headers: headers.map(|h| h.iter()),
    };
    T::deserialize(&mut fields)
}

/// The fields of one line, taken in order.
struct Fields<'a> {
    line: &'a str,
    ends: &'a [usize],
    /// The index of the next field.
    next: usize,
    headers: Option<csv::StringRecordIter<'a>>,
}

impl<'a> Fields<'a> {
    fn peek(&self) -> Option<&'a str> {
        let end = *self.ends.get(self.next)?;
        let start = match self.next {
            0 => 0,
            i => self.ends[i - 1] + 1,
        };
        self.line.get(start..end)
    }

    fn field(&mut self) -> Result<&'a str, Declined> {
        let field = self.peek().ok_or(Declined)?;
        self.next += 1;
        Ok(field)
    }
}

/// Parses a decimal integer (an optional sign — `-` only if `$signed` — then digits) as
/// `str::parse` does; anything else (hexadecimal, an overflow, a space) declines.
macro_rules! decimal {
    ($name:ident, $int:ty, $signed:expr) => {
        fn $name(field: &str) -> Result<$int, Declined> {
            let bytes = field.as_bytes();
            let (negative, digits) = match bytes.first() {
                Some(b'-') if $signed => (true, &bytes[1..]),
                Some(b'+') => (false, &bytes[1..]),
                _ => (false, bytes),
            };
            if digits.is_empty() {
                return Err(Declined);
            }
            // Fewer digits than the type's can never overflow: no checks per digit.
            let safe = digits.len() <= <$int>::MAX.ilog10() as usize;
            let mut n: $int = 0;
            for &b in digits {
                let digit = b.wrapping_sub(b'0');
                if digit > 9 {
                    return Err(Declined);
                }
                let digit = <$int>::from(digit);
                n = match (safe, negative) {
                    (true, true) => n * 10 - digit,
                    (true, false) => n * 10 + digit,
                    (false, true) => n
                        .checked_mul(10)
                        .and_then(|n| n.checked_sub(digit))
                        .ok_or(Declined)?,
                    (false, false) => n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(digit))
                        .ok_or(Declined)?,
                };
            }
            Ok(n)
        }
    };
}

decimal!(parse_i64, i64, true);
decimal!(parse_u64, u64, false);

macro_rules! integer {
    ($method:ident, $visit:ident, $int:ty, $parse:ident) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
            let n = $parse(self.field()?)?;
            visitor.$visit(<$int>::try_from(n).map_err(|_| Declined)?)
        }
    };
}

macro_rules! parsed {
    ($method:ident, $visit:ident) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
            visitor.$visit(self.field()?.parse().map_err(|_| Declined)?)
        }
    };
}

macro_rules! declined {
    ($($method:ident),*) => {
        $(fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Declined> {
            Err(Declined)
        })*
    };
}

impl<'de> Deserializer<'de> for &mut Fields<'de> {
    type Error = Declined;

    declined!(
        deserialize_any,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_identifier
    );

    integer!(deserialize_i8, visit_i8, i8, parse_i64);
    integer!(deserialize_i16, visit_i16, i16, parse_i64);
    integer!(deserialize_i32, visit_i32, i32, parse_i64);
    integer!(deserialize_i64, visit_i64, i64, parse_i64);
    integer!(deserialize_u8, visit_u8, u8, parse_u64);
    integer!(deserialize_u16, visit_u16, u16, parse_u64);
    integer!(deserialize_u32, visit_u32, u32, parse_u64);
    integer!(deserialize_u64, visit_u64, u64, parse_u64);
    parsed!(deserialize_i128, visit_i128);
    parsed!(deserialize_u128, visit_u128);
    parsed!(deserialize_f32, visit_f32);
    parsed!(deserialize_f64, visit_f64);
    parsed!(deserialize_bool, visit_bool);

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        let mut chars = self.field()?.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(Declined),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        visitor.visit_borrowed_str(self.field()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        visitor.visit_str(self.field()?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        match self.peek() {
            None => visitor.visit_none(),
            Some("") => {
                self.next += 1;
                visitor.visit_none()
            }
            Some(_) => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Declined> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Declined> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        visitor.visit_seq(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Declined> {
        visitor.visit_seq(self)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Declined> {
        visitor.visit_seq(self)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        match self.headers.is_some() {
            true => visitor.visit_map(self),
            false => visitor.visit_seq(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Declined> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Declined> {
        Err(Declined)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        self.field()?;
        visitor.visit_unit()
    }
}

impl<'de> SeqAccess<'de> for &mut Fields<'de> {
    type Error = Declined;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Declined> {
        match self.peek() {
            None => Ok(None),
            Some(_) => seed.deserialize(&mut **self).map(Some),
        }
    }
}

impl<'de> MapAccess<'de> for &mut Fields<'de> {
    type Error = Declined;

    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Declined> {
        let Some(header) = self.headers.as_mut().and_then(Iterator::next) else {
            return Ok(None);
        };
        seed.deserialize(BorrowedBytesDeserializer::new(header.as_bytes()))
            .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Declined> {
        seed.deserialize(&mut **self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::de::DeserializeOwned;

    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Event {
        time: i64,
        key: String,
        n: Option<u32>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Mixed {
        flag: bool,
        x: f64,
        c: char,
        small: i8,
        big: u128,
        #[serde(default)]
        missing: Option<String>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    enum Color {
        Red,
        Blue,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Tagged {
        color: Color,
        id: u16,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Id(i64);

    fn record(line: &str) -> csv::StringRecord {
        line.split(',').collect()
    }

    /// What the quick path makes of `line`, and what the csv crate makes of it.
    fn both<T: DeserializeOwned>(line: &str, headers: Option<&str>) -> (Option<T>, Option<T>) {
        let headers = headers.map(record);
        let mut ends = Vec::new();
        split_fields(line, &mut ends);
        let quick = deserialize::<T>(line, &ends, headers.as_ref()).ok();
        let reference = record(line).deserialize(headers.as_ref()).ok();
        (quick, reference)
    }

    /// The quick path gives the csv crate's record, or declines; never another record.
    fn agrees<T: DeserializeOwned + PartialEq + std::fmt::Debug>(
        line: &str,
        headers: Option<&str>,
    ) -> Option<T> {
        let (quick, reference) = both::<T>(line, headers);
        if quick.is_some() {
            assert_eq!(quick, reference, "{line:?} with headers {headers:?}");
        }
        quick
    }

    #[test]
    fn plain_records_are_read_by_header_or_in_order() {
        let h = Some("time,key,n");
        assert_eq!(
            agrees::<Event>("17,k1,3", h),
            Some(Event {
                time: 17,
                key: "k1".into(),
                n: Some(3)
            })
        );
        assert_eq!(
            agrees::<Event>("-5,,", h),
            Some(Event {
                time: -5,
                key: String::new(),
                n: None
            })
        );
        // By name, whatever the order; an unknown column is skipped.
        assert_eq!(
            agrees::<Event>("x,2,k,9", Some("other,time,key,n")),
            Some(Event {
                time: 2,
                key: "k".into(),
                n: Some(9)
            })
        );
        assert_eq!(
            agrees::<Event>("1,a,2", None),
            Some(Event {
                time: 1,
                key: "a".into(),
                n: Some(2)
            })
        );
        assert_eq!(agrees::<(i64, String)>("4,b", None), Some((4, "b".into())));
        assert_eq!(agrees::<Id>("12", None), Some(Id(12)));
        assert_eq!(agrees::<Vec<u8>>("1,2,3", None), Some(vec![1, 2, 3]));
        let map = agrees::<BTreeMap<String, i32>>("1,2", Some("a,b")).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(
            agrees::<Mixed>(
                "true,2.5,é,-128,340282366920938463463374607431768211455",
                Some("flag,x,c,small,big")
            ),
            Some(Mixed {
                flag: true,
                x: 2.5,
                c: 'é',
                small: -128,
                big: u128::MAX,
                missing: None
            })
        );
    }

    #[test]
    fn what_it_does_not_handle_goes_to_the_csv_crate() {
        // Hexadecimal, which the csv crate reads.
        assert_eq!(both::<Event>("0x1F,k,", Some("time,key,n")).0, None);
        assert!(both::<Event>("0x1F,k,", Some("time,key,n")).1.is_some());
        // Enums, which it reads by variant name.
        let (quick, reference) = both::<Tagged>("Blue,7", Some("color,id"));
        assert_eq!(
            (quick, reference),
            (
                None,
                Some(Tagged {
                    color: Color::Blue,
                    id: 7
                })
            )
        );
        // Bad fields, too few fields, overflows: both refuse.
        for line in ["x,k,1", "1", "1,k,99999999999", " 1,k,2", "1,k,2.0"] {
            assert_eq!(both::<Event>(line, Some("time,key,n")), (None, None), "{line}");
        }
        assert_eq!(both::<(i8, u8)>("128,1", None), (None, None));
        assert_eq!(both::<(i8, u8)>("1,-1", None), (None, None));
        assert_eq!(
            both::<(i8, u8)>("-128,255", None),
            (Some((-128, 255)), Some((-128, 255)))
        );
    }

    proptest! {
        /// On any line without quotes, the quick path agrees with the csv crate or declines.
        #[test]
        fn it_agrees_with_the_csv_crate(line in "[-+0-9a-x.,é ]{0,24}") {
            agrees::<Event>(&line, Some("time,key,n"));
            agrees::<(i64, String, Option<u32>)>(&line, None);
            agrees::<(f64, bool)>(&line, None);
            agrees::<Vec<i16>>(&line, None);
            agrees::<Mixed>(&line, Some("flag,x,c,small,big"));
        }

        /// Every decimal integer is read as `str::parse` reads it.
        #[test]
        fn integers_parse_as_the_standard_library_does(n in any::<i64>(), m in any::<u64>(), plus in any::<bool>()) {
            prop_assert_eq!(parse_i64(&n.to_string()).ok(), Some(n));
            let text = if plus { format!("+{m}") } else { m.to_string() };
            prop_assert_eq!(parse_u64(&text).ok(), text.parse().ok());
            prop_assert_eq!(parse_u64(&format!("-{m}")).ok(), format!("-{m}").parse::<u64>().ok());
        }
    }
}
