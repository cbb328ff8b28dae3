//! The protobuf wire format, by hand: a `Writer` that emits fields in the
//! order it is called (callers call in ascending field number) and a `Reader`
//! that walks a message's fields and refuses anything malformed.
//!
//! Varints are `u64` everywhere (never `usize`: armv7 is 32-bit); a length is
//! compared with the remaining input as `u64` before it becomes an index.
//! The reader never panics: truncated input, a varint longer than 10 bytes or
//! above 64 bits, field number 0, groups and fixed-width wire types are
//! errors. Knowing which fields a message has is the caller's job (an unknown
//! field is an error there). Pure: no I/O.

use crate::error::{Error, Result};

/// Wire type 0: varint.
pub const VARINT: u8 = 0;
/// Wire type 2: length-delimited.
pub const LEN: u8 = 2;

/// Appends `v` as a varint.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Builds one message. Scalars and strings equal to their proto3 default are
/// omitted; `string_always` and `message` are written even when empty.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    fn key(&mut self, field: u32, wire: u8) {
        put_varint(&mut self.buf, (u64::from(field) << 3) | u64::from(wire));
    }

    /// uint64 / enum field, omitted when 0.
    pub fn uint(&mut self, field: u32, v: u64) -> &mut Writer {
        if v != 0 {
            self.key(field, VARINT);
            put_varint(&mut self.buf, v);
        }
        self
    }

    /// int64 field (two's complement, 10 bytes when negative), omitted when 0.
    pub fn int(&mut self, field: u32, v: i64) -> &mut Writer {
        self.uint(field, v as u64)
    }

    /// bool field, omitted when false.
    pub fn bool(&mut self, field: u32, v: bool) -> &mut Writer {
        self.uint(field, u64::from(v))
    }

    /// bytes field, omitted when empty.
    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Writer {
        if !v.is_empty() {
            self.len_field(field, v);
        }
        self
    }

    /// string field, omitted when empty.
    pub fn string(&mut self, field: u32, v: &str) -> &mut Writer {
        self.bytes(field, v.as_bytes())
    }

    /// string field written even when empty (gogoproto non-nullable decimals).
    pub fn string_always(&mut self, field: u32, v: &str) -> &mut Writer {
        self.len_field(field, v.as_bytes());
        self
    }

    /// An embedded message (or one element of a repeated one), always written.
    pub fn message(&mut self, field: u32, encoded: &[u8]) -> &mut Writer {
        self.len_field(field, encoded);
        self
    }

    fn len_field(&mut self, field: u32, v: &[u8]) {
        self.key(field, LEN);
        put_varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// The encoded message.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// A field's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Len(&'a [u8]),
}

/// One decoded field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub number: u32,
    pub value: Value<'a>,
    msg: &'static str,
}

impl<'a> Field<'a> {
    fn wrong_type(&self, want: &str) -> Error {
        Error::Decode(format!(
            "{}: field {} has the wrong wire type (expected {want})",
            self.msg, self.number
        ))
    }

    /// The varint payload (uint64, enum, bool).
    pub fn uint(&self) -> Result<u64> {
        match self.value {
            Value::Varint(v) => Ok(v),
            Value::Len(_) => Err(self.wrong_type("varint")),
        }
    }

    /// The varint payload read as int64.
    pub fn int(&self) -> Result<i64> {
        Ok(self.uint()? as i64)
    }

    /// A bool; any non-zero varint is true, as in every protobuf runtime.
    pub fn bool(&self) -> Result<bool> {
        Ok(self.uint()? != 0)
    }

    /// The length-delimited payload (bytes, embedded message).
    pub fn bytes(&self) -> Result<&'a [u8]> {
        match self.value {
            Value::Len(b) => Ok(b),
            Value::Varint(_) => Err(self.wrong_type("length-delimited")),
        }
    }

    /// The payload as UTF-8 text.
    pub fn string(&self) -> Result<String> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| {
            Error::Decode(format!(
                "{}: field {} is not valid UTF-8",
                self.msg, self.number
            ))
        })
    }

    /// The error for a field the message does not have.
    pub fn unknown(&self) -> Error {
        Error::Decode(format!(
            "{}: unknown field {} (the chain rejects unknown fields)",
            self.msg, self.number
        ))
    }
}

/// Walks the fields of one message in wire order.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    msg: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, whose errors name the message `msg`.
    pub fn new(buf: &'a [u8], msg: &'static str) -> Reader<'a> {
        Reader { buf, pos: 0, msg }
    }

    fn err(&self, what: &str) -> Error {
        Error::Decode(format!("{}: {what} at byte {}", self.msg, self.pos))
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err("truncated varint"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    /// The next field, `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<Field<'a>>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > 0x1fff_ffff {
            return Err(self.err(&format!("illegal field number {number}")));
        }
        let number = number as u32;
        let value = match (key & 7) as u8 {
            VARINT => Value::Varint(self.varint()?),
            LEN => {
                let len = self.varint()?;
                let remaining = (self.buf.len() - self.pos) as u64;
                if len > remaining {
                    return Err(self.err(&format!(
                        "field {number}: length {len} runs past the end ({remaining} bytes left)"
                    )));
                }
                let end = self.pos + len as usize;
                let bytes = &self.buf[self.pos..end];
                self.pos = end;
                Value::Len(bytes)
            }
            wire => return Err(self.err(&format!("field {number}: unsupported wire type {wire}"))),
        };
        Ok(Some(Field {
            number,
            value,
            msg: self.msg,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expected: std::result::Result<Vec<(u32, Value<'_>)>, &str>) {
        let mut r = Reader::new(input, "Test");
        let mut got = Vec::new();
        let outcome = loop {
            match r.next_field() {
                Ok(Some(f)) => got.push((f.number, f.value)),
                Ok(None) => break Ok(got),
                Err(e) => break Err(e.to_string()),
            }
        };
        match (outcome, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{input:02x?}"),
            (Err(g), Err(e)) => assert!(g.contains(e), "{input:02x?}: {g}"),
            (g, e) => panic!("{input:02x?}: got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn reads_fields_and_rejects_malformed_input() {
        check(&[], Ok(vec![]));
        check(&[0x08, 0x96, 0x01], Ok(vec![(1, Value::Varint(150))]));
        check(&[0x12, 0x02, b'h', b'i'], Ok(vec![(2, Value::Len(b"hi"))]));
        check(&[0x08], Err("truncated varint"));
        check(&[0x08, 0x80], Err("truncated varint"));
        check(&[0x12, 0x03, b'h'], Err("runs past the end"));
        // a length of 2^64-1 must not overflow anything
        let mut huge = vec![0x12];
        huge.extend([0xff; 9]);
        huge.push(0x01);
        check(&huge, Err("runs past the end"));
        let mut over = vec![0x08];
        over.extend([0xff; 9]);
        over.push(0x02);
        check(&over, Err("overflows 64 bits"));
        let mut long = vec![0x08];
        long.extend([0x80; 10]);
        long.push(0x00);
        check(&long, Err("overflows 64 bits"));
        check(&[0x00, 0x01], Err("illegal field number 0"));
        check(&[0x09, 0, 0, 0, 0, 0, 0, 0, 0], Err("wire type 1"));
        check(&[0x0b], Err("wire type 3"));
        check(&[0x0d, 0, 0, 0, 0], Err("wire type 5"));
    }

    #[test]
    fn writes_in_call_order_and_omits_defaults() {
        let mut w = Writer::new();
        w.uint(1, 0)
            .uint(1, 300)
            .int(2, -1)
            .string(3, "")
            .string_always(4, "")
            .bool(5, false)
            .bool(6, true)
            .message(7, &[]);
        let mut want = vec![0x08, 0xac, 0x02, 0x10];
        want.extend([0xff; 9]);
        want.extend([0x01, 0x22, 0x00, 0x30, 0x01, 0x3a, 0x00]);
        assert_eq!(w.finish(), want);
        let mut buf = Vec::new();
        put_varint(&mut buf, u64::MAX);
        let msg = [&[0x08][..], &buf].concat();
        let field = Reader::new(&msg, "T").next_field().unwrap().unwrap();
        assert_eq!(field.uint().unwrap(), u64::MAX);
    }

    #[test]
    fn field_accessors_check_wire_types() {
        let mut r = Reader::new(&[0x08, 0x01, 0x12, 0x01, 0xff], "Msg");
        let a = r.next_field().unwrap().unwrap();
        assert!(a.bool().unwrap());
        assert!(a.bytes().unwrap_err().to_string().contains("Msg: field 1"));
        let b = r.next_field().unwrap().unwrap();
        assert!(b.uint().is_err());
        assert!(b.string().unwrap_err().to_string().contains("UTF-8"));
        assert!(b.unknown().to_string().contains("unknown field 2"));
    }
}
