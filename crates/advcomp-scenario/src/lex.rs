//! A tiny character-level scanner that knows where strings and comments
//! are, used around the pest parser:
//!
//! - before it, to catch what a PEG parser reports poorly (an unclosed
//!   string, an unknown escape) and to refuse absurd nesting before any
//!   recursion happens;
//! - after it, to find where a statement's last token ends (pest spans may
//!   swallow trailing comments) and which brackets are still open at a
//!   syntax error.

use crate::diagnostic::Diagnostic;
use crate::span::{SourceFile, Span};

/// Deepest `[`/`{` nesting accepted. Real scenarios need 2 (a list inside a
/// parameter block); the limit keeps hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 16;

/// One pass over the text: unclosed strings, unknown escapes, nesting deeper
/// than [`MAX_DEPTH`]. Stops at the first problem of each kind.
pub fn prescan(src: &SourceFile) -> Vec<Diagnostic> {
    let text = &*src.text;
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => i = line_end(bytes, i),
            b'"' => {
                let open = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n') | Some(b'\r') => {
                            out.push(
                                Diagnostic::error(src, Span::new(open, open + 1), "unclosed string")
                                    .label("this string is not closed before the end of the line")
                                    .help("add the closing `\"`; a string cannot span lines (write `\\n` for a line break)"),
                            );
                            return out;
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let escaped = text[i + 1..].chars().next();
                            match escaped {
                                Some('"' | '\\' | 'n' | 'r' | 't') => i += 2,
                                Some(c) if c != '\n' && c != '\r' => {
                                    let end = i + 1 + c.len_utf8();
                                    out.push(
                                        Diagnostic::error(src, Span::new(i, end), format!("unknown escape `\\{c}` in a string"))
                                            .label("not an escape")
                                            .help("the escapes are `\\\"`, `\\\\`, `\\n`, `\\r` and `\\t`"),
                                    );
                                    return out;
                                }
                                _ => i += 1, // the line ends: reported as unclosed on the next turn
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    out.push(
                        Diagnostic::error(
                            src,
                            Span::new(i, i + 1),
                            format!("nesting deeper than {MAX_DEPTH} levels"),
                        )
                        .label("too deep")
                        .help("a parameter value is a plain value or a list of plain values"),
                    );
                    return out;
                }
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// Index of the line break ending the line that contains `i` (or the end).
fn line_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
        i += 1;
    }
    i
}

/// End of the last character in `start..end` that is neither whitespace
/// nor inside a comment (`start` if there is none).
pub fn significant_end(text: &str, start: usize, end: usize) -> usize {
    let bytes = text.as_bytes();
    let end = end.min(bytes.len());
    let mut last = start;
    let mut i = start;
    while i < end {
        match bytes[i] {
            b'#' => i = line_end(bytes, i),
            b'"' => {
                i += 1;
                while i < end && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(end);
                last = i;
            }
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            _ => {
                i += 1;
                last = i;
            }
        }
    }
    while last < text.len() && !text.is_char_boundary(last) {
        last += 1;
    }
    last
}

/// The `[` and `{` still open at byte `upto` (offset and bracket), innermost last.
pub fn open_brackets(text: &str, upto: usize) -> Vec<(usize, u8)> {
    let bytes = text.as_bytes();
    let upto = upto.min(bytes.len());
    let mut stack = Vec::new();
    let mut i = 0;
    while i < upto {
        match bytes[i] {
            b'#' => i = line_end(bytes, i),
            b'"' => {
                i += 1;
                while i < upto && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b @ (b'[' | b'{') => {
                stack.push((i, b));
                i += 1;
            }
            b']' | b'}' => {
                stack.pop();
                i += 1;
            }
            _ => i += 1,
        }
    }
    stack
}

/// The token starting at `pos` and how to name it in a message
/// (`` `lenet5` ``, `end of file`, `` `}` ``, `character U+0000`).
pub fn token_at(text: &str, pos: usize) -> (Span, String) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let rest = &text[pos..];
    let Some(first) = rest.chars().next() else {
        return (Span::new(pos, pos), "end of file".to_string());
    };
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    let len = if first.is_ascii_alphanumeric() || first == '_' {
        let word = rest
            .char_indices()
            .find(|&(_, c)| !is_word(c))
            .map_or(rest.len(), |(i, _)| i);
        rest[..word].find("->").unwrap_or(word)
    } else if first == '-' && rest[1..].starts_with('>') {
        2
    } else {
        first.len_utf8()
    };
    let span = Span::new(pos, pos + len);
    let word = &rest[..len];
    let what = match first {
        '\n' | '\r' => "end of line".to_string(),
        '"' => "a string".to_string(),
        c if c.is_control() || c == '\u{FFFD}' => format!("character U+{:04X}", c as u32),
        _ if word.chars().count() > 40 => {
            format!("`{}…`", word.chars().take(40).collect::<String>())
        }
        _ => format!("`{word}`"),
    };
    (span, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_end_skips_comments_and_space() {
        let t = "seed = 1   # c\n  ";
        assert_eq!(significant_end(t, 0, t.len()), 8);
        let t = "x = \"a#b\" # c";
        assert_eq!(significant_end(t, 0, t.len()), 9);
    }

    #[test]
    fn open_brackets_ignores_strings_and_comments() {
        let t = "{ a: \"{\" # {\n [1, ";
        assert_eq!(open_brackets(t, t.len()), vec![(0, b'{'), (14, b'[')]);
    }

    #[test]
    fn tokens_are_named() {
        assert_eq!(token_at("a lenet5 {", 2).1, "`lenet5`");
        assert_eq!(token_at("a", 1).1, "end of file");
        assert_eq!(token_at("\u{0}", 0).1, "character U+0000");
        assert_eq!(token_at("-> x", 0).1, "`->`");
    }
}
