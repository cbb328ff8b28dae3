//! Hex encoding and decoding (lower-case for pubkeys and bytes, upper-case for
//! tx hashes). Pure; a few lines instead of a crate.

use crate::error::{Error, Result};

const LOWER: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(LOWER[(b >> 4) as usize] as char);
        s.push(LOWER[(b & 15) as usize] as char);
    }
    s
}

/// Upper-case hex of `bytes` (Cosmos tx hashes).
pub fn encode_upper(bytes: &[u8]) -> String {
    encode(bytes).to_ascii_uppercase()
}

/// Decodes hex in either case; an odd length or a non-hex character is an error.
pub fn decode(s: &str) -> Result<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(Error::Decode(format!(
            "hex string has odd length {}",
            b.len()
        )));
    }
    let nibble = |c: u8| -> Result<u8> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(Error::Decode(format!(
                "not a hex character: {:?}",
                c as char
            ))),
        }
    };
    b.chunks(2)
        .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        assert_eq!(encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(encode_upper(&[0xab]), "AB");
        assert_eq!(decode("00ABff").unwrap(), vec![0, 0xab, 0xff]);
        assert!(decode("abc").is_err());
        assert!(decode("zz").is_err());
    }
}
