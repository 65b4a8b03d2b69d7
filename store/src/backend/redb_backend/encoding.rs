//! The on-disk encoding of one [`Record`]: a small, versioned binary layout.
//!
//! ```text
//! byte 0      encoding version (RECORD_ENCODING_V1 = 1)
//! byte 1      flags: bit 0 = tombstone; other bits must be 0
//! varint      create_revision (unsigned LEB128; revisions are never negative)
//! varint      version         (unsigned LEB128)
//! varint      lease           (zig-zag LEB128: any i64)
//! varint      key length, then the key bytes
//! rest        the value bytes
//! ```
//!
//! The revision is not in the value: it is the table key. Decoding never panics; every
//! malformation is a [`DecodeError`] naming what was wrong.

use bytes::Bytes;

use crate::backend::Record;

/// The only record layout this build writes and reads.
pub(crate) const RECORD_ENCODING_V1: u8 = 1;

const FLAG_TOMBSTONE: u8 = 0b0000_0001;
const KNOWN_FLAGS: u8 = FLAG_TOMBSTONE;

/// Why a stored record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The bytes ended before the record did.
    #[error("record truncated while reading {0}")]
    Truncated(&'static str),
    /// The record was written in a layout this build does not know.
    #[error("unknown record encoding version {0} (this build reads version {RECORD_ENCODING_V1})")]
    UnknownVersion(u8),
    /// Flag bits this build does not know are set.
    #[error("unknown record flags {0:#010b}")]
    UnknownFlags(u8),
    /// A varint ran past 64 bits, or a field is out of its range.
    #[error("field {0} is out of range")]
    OutOfRange(&'static str),
}

/// Encode `record` into a fresh buffer.
///
/// Fails only for a record the store must never produce (a negative revision or version).
pub(crate) fn encode_record(record: &Record) -> Result<Vec<u8>, &'static str> {
    let create = u64::try_from(record.create_revision).map_err(|_| "create_revision")?;
    let version = u64::try_from(record.version).map_err(|_| "version")?;
    let mut out = Vec::with_capacity(2 + 3 * 10 + 5 + record.key.len() + record.value.len());
    out.push(RECORD_ENCODING_V1);
    out.push(if record.tombstone { FLAG_TOMBSTONE } else { 0 });
    put_varint(&mut out, create);
    put_varint(&mut out, version);
    put_varint(&mut out, zigzag(record.lease));
    put_varint(&mut out, record.key.len() as u64);
    out.extend_from_slice(&record.key);
    out.extend_from_slice(&record.value);
    Ok(out)
}

/// Decode a record written by [`encode_record`].
pub(crate) fn decode_record(bytes: &[u8]) -> Result<Record, DecodeError> {
    let mut reader = Reader { bytes, pos: 0 };
    let encoding = reader.byte("encoding version")?;
    if encoding != RECORD_ENCODING_V1 {
        return Err(DecodeError::UnknownVersion(encoding));
    }
    let flags = reader.byte("flags")?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(DecodeError::UnknownFlags(flags));
    }
    let create_revision = reader.unsigned("create_revision")?;
    let version = reader.unsigned("version")?;
    let lease = unzigzag(reader.varint("lease")?);
    let key_len = usize::try_from(reader.varint("key length")?)
        .map_err(|_| DecodeError::OutOfRange("key length"))?;
    let key = reader.take(key_len, "key")?;
    let value = &bytes[reader.pos..];
    Ok(Record {
        key: Bytes::copy_from_slice(key),
        value: Bytes::copy_from_slice(value),
        create_revision,
        version,
        lease,
        tombstone: flags & FLAG_TOMBSTONE != 0,
    })
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A cursor over the encoded bytes that reports, rather than panics on, a short read.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(DecodeError::Truncated(field))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte(field)?;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may only carry the 64th bit.
            if shift == 63 && bits > 1 {
                return Err(DecodeError::OutOfRange(field));
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::OutOfRange(field))
    }

    /// A varint that must fit in a non-negative i64.
    fn unsigned(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        i64::try_from(self.varint(field)?).map_err(|_| DecodeError::OutOfRange(field))
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(len)
            .ok_or(DecodeError::OutOfRange(field))?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated(field))?;
        self.pos = end;
        Ok(slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(key: &[u8], value: &[u8], create: i64, version: i64, lease: i64) -> Record {
        Record {
            key: Bytes::copy_from_slice(key),
            value: Bytes::copy_from_slice(value),
            create_revision: create,
            version,
            lease,
            tombstone: false,
        }
    }

    #[test]
    fn round_trips_a_put_and_a_tombstone() {
        let put = record(b"/registry/pods/default/a", b"{\"x\":1}", 7, 3, 0x1234_5678);
        assert_eq!(decode_record(&encode_record(&put).unwrap()).unwrap(), put);
        let tomb = Record {
            key: Bytes::from_static(b"k"),
            tombstone: true,
            ..Default::default()
        };
        assert_eq!(decode_record(&encode_record(&tomb).unwrap()).unwrap(), tomb);
    }

    #[test]
    fn layout_is_stable() {
        // A change of this layout needs a new encoding version and a migration.
        let r = record(b"ab", b"v", 300, 1, -1);
        assert_eq!(
            encode_record(&r).unwrap(),
            vec![1, 0, 0xac, 0x02, 1, 1, 2, b'a', b'b', b'v']
        );
    }

    #[test]
    fn refuses_negative_revisions_on_encode() {
        assert_eq!(
            encode_record(&record(b"k", b"", -1, 1, 0)),
            Err("create_revision")
        );
        assert_eq!(encode_record(&record(b"k", b"", 1, -1, 0)), Err("version"));
    }

    #[test]
    fn reports_every_malformation() {
        assert_eq!(
            decode_record(&[]),
            Err(DecodeError::Truncated("encoding version"))
        );
        assert_eq!(decode_record(&[2, 0]), Err(DecodeError::UnknownVersion(2)));
        assert_eq!(
            decode_record(&[1, 0b10]),
            Err(DecodeError::UnknownFlags(0b10))
        );
        assert_eq!(
            decode_record(&[1, 0, 0x80]),
            Err(DecodeError::Truncated("create_revision"))
        );
        // A key length pointing past the end.
        assert_eq!(
            decode_record(&[1, 0, 1, 1, 0, 5, b'a']),
            Err(DecodeError::Truncated("key"))
        );
        // A varint longer than 64 bits.
        let mut long = vec![1, 0];
        long.extend_from_slice(&[0xff; 11]);
        assert_eq!(
            decode_record(&long),
            Err(DecodeError::OutOfRange("create_revision"))
        );
        // u64::MAX does not fit a revision.
        let mut big = vec![1, 0];
        put_varint(&mut big, u64::MAX);
        assert_eq!(
            decode_record(&big),
            Err(DecodeError::OutOfRange("create_revision"))
        );
    }

    proptest! {
        #[test]
        fn round_trips_any_record(
            key in proptest::collection::vec(any::<u8>(), 1..64),
            value in proptest::collection::vec(any::<u8>(), 0..300),
            create in 0i64..=i64::MAX,
            version in 0i64..=i64::MAX,
            lease in any::<i64>(),
            tombstone in any::<bool>(),
        ) {
            let r = Record {
                key: key.into(),
                value: value.into(),
                create_revision: create,
                version,
                lease,
                tombstone,
            };
            prop_assert_eq!(decode_record(&encode_record(&r).unwrap()).unwrap(), r);
        }

        #[test]
        fn never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_record(&bytes);
        }
    }
}
