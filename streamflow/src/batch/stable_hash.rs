//! The stable hash of a key: which partition a key lives in, the same in every build.
//!
//! Partitions of saved state are found again by this hash, so it must not change with a crate,
//! compiler or platform: it is specified here over serde's data model (which a key's
//! `Serialize` describes), and pinned by a test of fixed keys.
//!
//! ```text
//! stable_hash(key) = h after feeding every value of key's serde data model, h starting at 0,
//!                    feeding bytes b meaning h = XXH3-64(b, seed = h)
//!   bool, u8, i8                 1 byte
//!   u16, i16                     2 bytes little-endian
//!   u32, i32, f32 (bits), char   4 bytes little-endian
//!   u64, i64, f64 (bits)         8 bytes little-endian
//!   u128, i128                   16 bytes little-endian
//!   str, bytes                   the length as u64, then the bytes (one feed)
//!   None / Some(v)               the byte 0 / the byte 1, then v
//!   unit, unit struct            nothing
//!   enum variant                 its index as u32, then its fields
//!   newtype struct               its field
//!   tuple, struct, tuple struct  the fields in order
//!   sequence, map                the length as u64, then the elements (keys and values in
//!                                turn); a length not known up front is fed after them
//! ```
//!
//! Fixed-width words make a key of one integer a single XXH3 call over 8 bytes, about as cheap as
//! the in-memory maps' hasher; a string is two calls.

use std::fmt;

use serde::ser::{self, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The stable 64-bit hash of `key` (see the module docs for its definition).
#[inline]
pub(crate) fn stable_hash<K: Serialize + ?Sized>(key: &K) -> u64 {
    let mut hasher = StableHasher { h: 0 };
    // The hasher itself never fails; a key's own `Serialize` may (a map whose entries fail to
    // serialize, say): the values fed before the failure decide, the same for equal keys.
    if let Err(e) = key.serialize(&mut hasher) {
        log::trace!("a key's Serialize failed part-way ({e}); hashing what it fed");
    }
    hasher.h
}

struct StableHasher {
    h: u64,
}

impl StableHasher {
    #[inline(always)]
    fn feed(&mut self, bytes: &[u8]) {
        self.h = xxh3_64_with_seed(bytes, self.h);
    }

    #[inline(always)]
    fn feed_len(&mut self, len: usize) {
        self.feed(&(len as u64).to_le_bytes());
    }
}

/// The error a key's `Serialize` may raise through the hasher.
#[derive(Debug)]
pub(crate) struct HashError(String);

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HashError {}

impl ser::Error for HashError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        HashError(msg.to_string())
    }
}

type Done = Result<(), HashError>;

/// `serialize_*` methods that feed an integer's little-endian bytes.
macro_rules! le_integers {
    ($($method:ident: $ty:ty),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Done {
            self.feed(&v.to_le_bytes());
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for &'a mut StableHasher {
    type Ok = ();
    type Error = HashError;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Seq<'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Done {
        self.feed(&[u8::from(v)]);
        Ok(())
    }
    // Integers: their fixed-width little-endian bytes (`u8`'s one byte included).
    le_integers! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128,
    }
    fn serialize_f32(self, v: f32) -> Done {
        self.feed(&v.to_bits().to_le_bytes());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Done {
        self.feed(&v.to_bits().to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Done {
        self.feed(&u32::from(v).to_le_bytes());
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Done {
        self.serialize_bytes(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Done {
        self.feed_len(v.len());
        self.feed(v);
        Ok(())
    }
    fn serialize_none(self) -> Done {
        self.feed(&[0]);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        self.feed(&[1]);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Done {
        Ok(())
    }
    fn serialize_unit_variant(self, _name: &'static str, index: u32, _variant: &'static str) -> Done {
        self.serialize_u32(index)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Done {
        self.feed(&index.to_le_bytes());
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, HashError> {
        Ok(Seq::start(self, len))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self, HashError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, HashError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, HashError> {
        self.feed(&index.to_le_bytes());
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, HashError> {
        Ok(Seq::start(self, len))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, HashError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, HashError> {
        self.feed(&index.to_le_bytes());
        Ok(self)
    }
}

/// A sequence or map being fed: its length up front if known, else counted and fed at the end.
pub(crate) struct Seq<'a> {
    hasher: &'a mut StableHasher,
    /// Elements seen, when the length was not known up front.
    counted: Option<u64>,
}

impl<'a> Seq<'a> {
    fn start(hasher: &'a mut StableHasher, len: Option<usize>) -> Self {
        match len {
            Some(len) => {
                hasher.feed_len(len);
                Seq {
                    hasher,
                    counted: None,
                }
            }
            None => Seq {
                hasher,
                counted: Some(0),
            },
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        if let Some(n) = &mut self.counted {
            *n += 1;
        }
        value.serialize(&mut *self.hasher)
    }

    fn finish(self) -> Done {
        if let Some(n) = self.counted {
            self.hasher.feed(&n.to_le_bytes());
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        self.finish()
    }
}

impl ser::SerializeMap for Seq<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Done {
        self.element(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        // Counted with its key: a map's count is its number of entries.
        value.serialize(&mut *self.hasher)
    }
    fn end(self) -> Done {
        self.finish()
    }
}

/// Tuples, structs and variants: their fields in order, nothing else.
macro_rules! fields {
    ($($trait:ident :: $method:ident ($($name:ident: $ty:ty),*);)*) => {$(
        impl ser::$trait for &mut StableHasher {
            type Ok = ();
            type Error = HashError;
            fn $method<T: Serialize + ?Sized>(&mut self, $($name: $ty,)* value: &T) -> Done {
                $(let _ = $name;)*
                value.serialize(&mut **self)
            }
            fn end(self) -> Done {
                Ok(())
            }
        }
    )*};
}

fields! {
    SerializeTuple::serialize_element();
    SerializeTupleStruct::serialize_field();
    SerializeTupleVariant::serialize_field();
    SerializeStruct::serialize_field(key: &'static str);
    SerializeStructVariant::serialize_field(key: &'static str);
}
