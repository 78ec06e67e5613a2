//! Showing arbitrary bytes to people and to programs: escaped text or hex, and parsing back.
//!
//! Escaped form: printable ASCII as is except `\`, which becomes `\\`; every other byte
//! becomes `\xNN`. It is unambiguous, so [`parse_escaped`] inverts [`escape`] exactly.

use std::fmt::Write as _;

/// How bytes are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// Printable ASCII kept, everything else `\xNN` (see the module doc).
    #[default]
    Escaped,
    /// Lowercase hex, two digits per byte.
    Hex,
}

impl Encoding {
    /// `Hex` when `hex` is set, else `Escaped`.
    pub fn from_hex_flag(hex: bool) -> Self {
        if hex {
            Encoding::Hex
        } else {
            Encoding::Escaped
        }
    }

    /// Renders `b` in this encoding.
    pub fn show(self, b: &[u8]) -> String {
        match self {
            Encoding::Escaped => escape(b),
            Encoding::Hex => hex(b),
        }
    }

    /// Renders at most `max` bytes of `b` (all when `max` is 0), marking a cut with `...`.
    pub fn preview(self, b: &[u8], max: usize) -> String {
        if max == 0 || b.len() <= max {
            return self.show(b);
        }
        format!("{}...", self.show(&b[..max]))
    }

    /// Parses user input given in this encoding.
    pub fn parse(self, s: &str) -> Result<Vec<u8>, String> {
        match self {
            Encoding::Escaped => parse_escaped(s),
            Encoding::Hex => parse_hex(s),
        }
    }
}

/// The escaped form of `b`.
pub fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s
}

/// Lowercase hex of `b`.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for c in b {
        let _ = write!(s, "{c:02x}");
    }
    s
}

/// Parses hex digits (either case, even count) into bytes.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 == 1 {
        return Err(format!("hex string of odd length {}", s.len()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("bad hex digits at position {i}"))
        })
        .collect()
}

/// Parses the escaped form back into bytes (`\\` and `\xNN` escapes; other chars as UTF-8).
pub fn parse_escaped(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some((_, '\\')) => out.push(b'\\'),
            Some((_, 'x')) => {
                let digits: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                let v = u8::from_str_radix(&digits, 16)
                    .ok()
                    .filter(|_| digits.len() == 2)
                    .ok_or_else(|| format!("bad \\x escape at position {i}"))?;
                out.push(v);
            }
            _ => return Err(format!("bad escape at position {i} (use \\\\ or \\xNN)")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_hex_roundtrip_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(parse_escaped(&escape(&all)).unwrap(), all);
        assert_eq!(parse_hex(&hex(&all)).unwrap(), all);
        assert_eq!(escape(b"a\\b\n"), "a\\\\b\\x0a");
        assert_eq!(Encoding::Escaped.preview(b"abcdef", 3), "abc...");
        assert!(parse_hex("abc").is_err() && parse_hex("zz").is_err());
        assert!(parse_escaped("\\q").is_err() && parse_escaped("\\x4").is_err());
    }
}
