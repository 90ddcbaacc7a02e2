//! The one grammar for ids and names (workload, request and replica ids, tenant, class, node,
//! model and adapter names, map keys): non-empty, at most a length cap in bytes, and free of
//! characters a log, a terminal or a reader would not show as they are: controls (NUL,
//! newline, ESC, ...), line and paragraph separators, bidirectional overrides and isolates,
//! zero-width and other invisible format characters, variation selectors and fillers.

use crate::{Error, Result};

/// Longest id in bytes (workload, request, replica, GPU ids; a DNS name fits).
pub const MAX_ID_BYTES: usize = 253;
/// Longest name in bytes (tenants, classes, models, adapters, nodes, map keys).
pub const MAX_NAME_BYTES: usize = 128;

/// Invisible or reordering code points outside the control range, as inclusive ranges.
const INVISIBLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),   // soft hyphen
    (0x034F, 0x034F),   // combining grapheme joiner
    (0x0600, 0x0605),   // Arabic number signs
    (0x061C, 0x061C),   // Arabic letter mark
    (0x06DD, 0x06DD),   // Arabic end of ayah
    (0x070F, 0x070F),   // Syriac abbreviation mark
    (0x115F, 0x1160),   // Hangul fillers
    (0x17B4, 0x17B5),   // Khmer inherent vowels
    (0x180B, 0x180F),   // Mongolian variation selectors, vowel separator
    (0x2000, 0x200F),   // spaces of odd widths, zero-width space/joiners, LRM, RLM
    (0x2028, 0x202F),   // line/paragraph separators, bidi embeddings and overrides
    (0x205F, 0x206F),   // math space, word joiner, invisible operators, bidi isolates
    (0x3000, 0x3000),   // ideographic space
    (0x3164, 0x3164),   // Hangul filler
    (0xFE00, 0xFE0F),   // variation selectors
    (0xFEFF, 0xFEFF),   // zero-width no-break space (BOM)
    (0xFFA0, 0xFFA0),   // halfwidth Hangul filler
    (0xFFF0, 0xFFFB),   // interlinear annotation controls
    (0x1BCA0, 0x1BCA3), // shorthand format controls
    (0x1D173, 0x1D17A), // musical format controls
    (0xE0000, 0xE0FFF), // tags and variation selectors supplement
];

/// Why `c` may not appear in an id or a name, or `None` if it may.
fn refused(c: char) -> Option<&'static str> {
    if c.is_control() {
        return Some("a control character");
    }
    let cp = u32::from(c);
    if INVISIBLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&cp)) {
        return Some("an invisible or direction-changing character");
    }
    None
}

/// Checks `value` against the grammar with a cap of `max_bytes`; the error names `field`.
pub fn check(field: &str, value: &str, max_bytes: usize) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > max_bytes {
        let reason = format!("is {} bytes long, at most {max_bytes} allowed", value.len());
        return Err(Error::invalid(field, reason));
    }
    if value.trim() != value {
        return Err(Error::invalid(field, "must not start or end with a space"));
    }
    match value
        .char_indices()
        .find_map(|(i, c)| Some((i, c, refused(c)?)))
    {
        Some((i, c, what)) => Err(Error::invalid(
            field,
            format!("has {what} (U+{:04X}) at byte {i}", u32::from(c)),
        )),
        None => Ok(()),
    }
}

/// An id: [`check`] with [`MAX_ID_BYTES`].
pub fn check_id(field: &str, value: &str) -> Result<()> {
    check(field, value, MAX_ID_BYTES)
}

/// A name: [`check`] with [`MAX_NAME_BYTES`].
pub fn check_name(field: &str, value: &str) -> Result<()> {
    check(field, value, MAX_NAME_BYTES)
}

/// An optional name: empty is allowed (meaning "none"), anything else is [`check_name`].
pub fn check_optional_name(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    check_name(field, value)
}

/// The value among `all` whose `name` is `s`; else `InvalidRequest` on `field`, saying
/// `unknown WHAT "s"; expected one of [...]` with every accepted name.
pub fn one_of<T: Copy>(
    all: &[T],
    name: impl Fn(T) -> &'static str,
    s: &str,
    field: &str,
    what: &str,
) -> Result<T> {
    all.iter().copied().find(|&v| name(v) == s).ok_or_else(|| {
        let names: Vec<_> = all.iter().map(|&v| name(v)).collect();
        Error::invalid(
            field,
            format!("unknown {what} {s:?}; expected one of {names:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass() {
        for ok in ["llama-3-8b", "team/a.b_c:1", "Zürich", "模型", "a b"] {
            assert_eq!(check_name("n", ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn control_and_invisible_characters_are_refused() {
        for bad in [
            "a\0b",
            "a\nb",
            "a\x1b[31m",
            "a\u{202E}b",
            "a\u{200B}b",
            "a\u{FEFF}",
            "\u{2066}x",
            "a\u{7F}",
            "a\u{E0041}",
        ] {
            let err = check_name("tenant", bad).unwrap_err();
            assert!(matches!(err, Error::InvalidRequest { ref field, .. } if field == "tenant"));
        }
    }

    #[test]
    fn empty_padded_and_long_values_are_refused() {
        assert!(check_name("n", "").is_err());
        assert!(check_name("n", " a").is_err());
        assert!(check_name("n", &"x".repeat(MAX_NAME_BYTES + 1)).is_err());
        assert!(check_id("n", &"x".repeat(MAX_ID_BYTES)).is_ok());
        assert!(check_optional_name("n", "").is_ok());
    }
}
