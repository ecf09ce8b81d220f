//! The Confluent wire format: magic byte 0, the schema id as 4 bytes big-endian, then the
//! payload; for Protobuf, the payload starts with the message indexes (a zigzag varint
//! count, then each index; a lone 0 for the first message of the file). Owns framing only.

/// Why a message is not in the wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the message is {0} bytes, shorter than the wire format's 5-byte header (magic byte 0 and a 4-byte schema id)")]
    Short(usize),
    #[error("the first byte is {0}, not the wire format's magic byte 0 (is the topic's data plain JSON? set the pipeline's format to match)")]
    BadMagic(u8),
    #[error("the Protobuf message indexes are cut short or out of range")]
    BadIndexes,
}

/// The schema id and what follows the header.
pub fn split(bytes: &[u8]) -> Result<(u32, &[u8]), WireError> {
    match bytes {
        [0, a, b, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        [magic, _, _, _, _, ..] => Err(WireError::BadMagic(*magic)),
        _ => Err(WireError::Short(bytes.len())),
    }
}

/// The header for schema `id`, followed by nothing yet.
pub fn header(id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    out
}

/// The Protobuf message indexes at the start of `payload` (the path to the message type
/// in its file: `[0]` is the first top-level message) and the message after them.
pub fn message_indexes(payload: &[u8]) -> Result<(Vec<usize>, &[u8]), WireError> {
    let mut at = 0;
    let count = zigzag(payload, &mut at)?;
    if count == 0 {
        return Ok((vec![0], &payload[at..]));
    }
    // Each index takes a byte at least: a count beyond the payload is hostile.
    let count = usize::try_from(count)
        .ok()
        .filter(|n| *n <= payload.len())
        .ok_or(WireError::BadIndexes)?;
    let mut indexes = Vec::with_capacity(count);
    for _ in 0..count {
        let index = zigzag(payload, &mut at)?;
        indexes.push(usize::try_from(index).map_err(|_| WireError::BadIndexes)?);
    }
    Ok((indexes, &payload[at..]))
}

/// The message indexes of `indexes` as written before a Protobuf payload.
pub fn write_message_indexes(indexes: &[usize], out: &mut Vec<u8>) {
    if indexes == [0] {
        out.push(0);
        return;
    }
    write_zigzag(indexes.len() as i64, out);
    for index in indexes {
        write_zigzag(*index as i64, out);
    }
}

fn zigzag(bytes: &[u8], at: &mut usize) -> Result<i64, WireError> {
    let mut raw: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at).ok_or(WireError::BadIndexes)?;
        *at += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(WireError::BadIndexes)
}

fn write_zigzag(n: i64, out: &mut Vec<u8>) {
    let mut raw = ((n << 1) ^ (n >> 63)) as u64;
    loop {
        let byte = (raw & 0x7f) as u8;
        raw >>= 7;
        if raw == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_splits_off_its_id() {
        let mut bytes = header(258);
        bytes.extend_from_slice(b"rest");
        assert_eq!(split(&bytes), Ok((258, &b"rest"[..])));
        assert_eq!(split(&[0, 0, 0, 0, 1]), Ok((1, &b""[..])));
    }

    #[test]
    fn a_message_without_the_header_says_why() {
        assert_eq!(split(b"{\"id\":1}"), Err(WireError::BadMagic(b'{')));
        assert_eq!(split(&[0, 0, 1]), Err(WireError::Short(3)));
        assert_eq!(split(&[]), Err(WireError::Short(0)));
        let text = WireError::BadMagic(b'{').to_string();
        assert!(text.contains("magic byte 0"), "{text}");
    }

    #[test]
    fn message_indexes_round_trip() {
        for indexes in [vec![0], vec![1], vec![0, 2], vec![3, 1, 70]] {
            let mut bytes = Vec::new();
            write_message_indexes(&indexes, &mut bytes);
            bytes.push(0xaa);
            assert_eq!(message_indexes(&bytes), Ok((indexes, &[0xaa][..])));
        }
        assert_eq!(message_indexes(&[]), Err(WireError::BadIndexes));
        // Claims 64 indexes in two bytes.
        assert_eq!(message_indexes(&[0x80, 0x01]), Err(WireError::BadIndexes));
        // A negative index.
        assert_eq!(message_indexes(&[2, 1]), Err(WireError::BadIndexes));
    }
}
