//! Splits one line of a scenario into tokens; lines are lexed separately so that a mistake
//! costs only its own line.

use crate::diag::Mistake;
use crate::span::Span;

/// What a token is; literals carry their decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `c`, `srv-1`, `MSG_PEEK`, `net.ipv4.ip_local_port_range`.
    Name(String),
    /// `@stream`, with the `@`.
    Group(String),
    /// `42`, `0x2a`, `0o755`, `4KiB`, `150ms`: the value and the unit letters glued to it.
    Num {
        value: u64,
        unit: String,
    },
    /// `127.0.0.1` or `5.14`: decimal numbers joined by single dots, kept as written.
    Dotted(String),
    /// `"text"`, decoded.
    Str(Vec<u8>),
    /// `hex"00 ff"`, decoded.
    Hex(Vec<u8>),
    /// `[::1]`: the text between the brackets.
    V6(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eq,
    EqEq,
    Ne,
    Pipe,
    Colon,
    Star,
    Ellipsis,
    DotDot,
    Plus,
    Minus,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Tok {
    /// How a message names the token: "found `(`", "found a string".
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Name(n) => format!("`{n}`"),
            Tok::Group(g) => format!("`{g}`"),
            Tok::Num { .. } => "a number".to_string(),
            Tok::Dotted(_) => "a dotted number".to_string(),
            Tok::Str(_) => "a string".to_string(),
            Tok::Hex(_) => "a hex string".to_string(),
            Tok::V6(_) => "an IPv6 address".to_string(),
            other => format!("`{}`", other.punct()),
        }
    }

    fn punct(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Eq => "=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::Pipe => "|",
            Tok::Colon => ":",
            Tok::Star => "*",
            Tok::Ellipsis => "...",
            Tok::DotDot => "..",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            _ => "?",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// A lexing mistake and where it is.
pub(crate) type LexError = (Mistake, Span);

/// Lexes `line`, which starts at byte `base` of the file and holds no newline.
pub(crate) fn lex_line(line: &str, base: usize) -> Result<Vec<Token>, LexError> {
    Lexer {
        text: line,
        pos: 0,
        base,
    }
    .run()
}

/// The most tokens one line may hold: real statements have tens; the bound keeps a hostile
/// line of a million `[` from becoming a million tokens in memory.
const MOST_TOKENS: usize = 1 << 16;

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    base: usize,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.text[self.pos..].chars().nth(n)
    }

    fn span(&self, start: usize) -> Span {
        Span::new(self.base + start, self.base + self.pos)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn run(mut self) -> Result<Vec<Token>, LexError> {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            let start = self.pos;
            if out.len() == MOST_TOKENS {
                return Err((
                    Mistake::TooManyTokens { most: MOST_TOKENS },
                    self.span(start),
                ));
            }
            if c.is_whitespace() {
                self.bump();
                continue;
            }
            if c == '#' {
                break;
            }
            let tok = if is_name_start(c) {
                let name = self.name();
                if name == "hex" && self.peek() == Some('"') {
                    Tok::Hex(self.hex_string(start)?)
                } else {
                    Tok::Name(name)
                }
            } else if c.is_ascii_digit() {
                self.number(start)?
            } else if c == '"' {
                Tok::Str(self.string(start)?)
            } else if c == '@' {
                self.bump();
                if !self.peek().is_some_and(is_name_start) {
                    return Err((Mistake::UnexpectedChar { ch: '@' }, self.span(start)));
                }
                Tok::Group(format!("@{}", self.name()))
            } else if c == '[' {
                self.bracket()
            } else {
                self.punct(c, start)?
            };
            out.push(Token {
                tok,
                span: self.span(start),
            });
        }
        Ok(out)
    }

    /// A name may hold `-` and `.` inside, never at its end, so `a..b` and `x-` stay apart.
    fn name(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let inner = (c == '-' || c == '.') && self.peek_at(1).is_some_and(is_name_char);
            if is_name_char(c) || inner {
                self.bump();
            } else {
                break;
            }
        }
        self.text[start..self.pos].to_string()
    }

    fn number(&mut self, start: usize) -> Result<Tok, LexError> {
        let radix = match (self.peek(), self.peek_at(1)) {
            (Some('0'), Some('x' | 'X')) => 16,
            (Some('0'), Some('o' | 'O')) => 8,
            (Some('0'), Some('b' | 'B')) => 2,
            _ => 10,
        };
        if radix != 10 {
            self.pos += 2;
            let digits_start = self.pos;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                self.bump();
            }
            let digits: String = self.text[digits_start..self.pos]
                .chars()
                .filter(|c| *c != '_')
                .collect();
            return match u64::from_str_radix(&digits, radix) {
                Ok(value) => Ok(Tok::Num {
                    value,
                    unit: String::new(),
                }),
                Err(_) => Err((
                    Mistake::BadNumber {
                        text: self.text[start..self.pos].to_string(),
                    },
                    self.span(start),
                )),
            };
        }
        self.digits();
        let mut dotted = false;
        while self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            dotted = true;
            self.bump();
            self.digits();
        }
        let number_end = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.bump();
        }
        let text = &self.text[start..number_end];
        if dotted {
            if self.pos != number_end {
                return Err((
                    Mistake::FractionalNumber {
                        text: self.text[start..self.pos].to_string(),
                    },
                    self.span(start),
                ));
            }
            return Ok(Tok::Dotted(text.to_string()));
        }
        let unit = self.text[number_end..self.pos].to_string();
        match text.parse::<u64>() {
            Ok(value) => Ok(Tok::Num { value, unit }),
            Err(_) => Err((
                Mistake::BadNumber {
                    text: text.to_string(),
                },
                Span::new(self.base + start, self.base + number_end),
            )),
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }

    /// Reads a quoted string; the opening `"` is next.
    fn string(&mut self, start: usize) -> Result<Vec<u8>, LexError> {
        self.bump();
        let mut out = Vec::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err((Mistake::UnterminatedString, self.span(start))),
                Some('"') => return Ok(out),
                Some('\\') => {
                    let byte = match self.bump() {
                        Some('n') => b'\n',
                        Some('r') => b'\r',
                        Some('t') => b'\t',
                        Some('0') => 0,
                        Some('\\') => b'\\',
                        Some('"') => b'"',
                        Some('x') => {
                            let hi = self.bump().and_then(|c| c.to_digit(16));
                            let lo = self.bump().and_then(|c| c.to_digit(16));
                            match (hi, lo) {
                                (Some(hi), Some(lo)) => (hi * 16 + lo) as u8,
                                _ => {
                                    let end = self.pos.min(self.text.len());
                                    let text = self.text[at..end].to_string();
                                    return Err((
                                        Mistake::BadEscape { text },
                                        Span::new(self.base + at, self.base + end),
                                    ));
                                }
                            }
                        }
                        other => {
                            let text = match other {
                                Some(c) => format!("\\{c}"),
                                None => "\\".to_string(),
                            };
                            return Err((Mistake::BadEscape { text }, self.span(at)));
                        }
                    };
                    out.push(byte);
                }
                Some(c) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }

    /// Reads `"00 ff"` after `hex`: pairs of hex digits, spaces allowed between pairs only.
    fn hex_string(&mut self, start: usize) -> Result<Vec<u8>, LexError> {
        self.bump();
        let mut out = Vec::new();
        let mut pending: Option<(u32, usize)> = None;
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err((Mistake::UnterminatedString, self.span(start))),
                Some('"') => {
                    if let Some((_, digit_at)) = pending {
                        return Err((
                            Mistake::OddHexDigits,
                            Span::new(self.base + digit_at, self.base + digit_at + 1),
                        ));
                    }
                    return Ok(out);
                }
                Some(' ' | '\t') => {
                    if let Some((_, digit_at)) = pending {
                        return Err((
                            Mistake::OddHexDigits,
                            Span::new(self.base + digit_at, self.base + digit_at + 1),
                        ));
                    }
                }
                Some(c) => match (c.to_digit(16), pending) {
                    (Some(lo), Some((hi, _))) => {
                        out.push((hi * 16 + lo) as u8);
                        pending = None;
                    }
                    (Some(hi), None) => pending = Some((hi, at)),
                    (None, _) => return Err((Mistake::BadHexDigit { ch: c }, self.span(at))),
                },
            }
        }
    }

    /// `[` starts an IPv6 literal when what follows up to `]` can only be one: hex digits,
    /// colons and dots, with at least two colons. Otherwise it opens a list (`[a: POLLIN]`,
    /// `[a, b]`), whose items always hold a space, a comma or a non-hex letter.
    fn bracket(&mut self) -> Tok {
        // Only the characters an IPv6 address may hold are scanned, at most as many as the
        // longest textual address: a line of a million `[` stays linear.
        const LONGEST_V6: usize = 45;
        let rest = &self.text[self.pos + 1..];
        let inner_len = rest
            .bytes()
            .take(LONGEST_V6 + 1)
            .take_while(|b| b.is_ascii_hexdigit() || *b == b':' || *b == b'.')
            .count();
        let inner = &rest[..inner_len];
        let plausible = inner_len > 0
            && inner_len <= LONGEST_V6
            && rest.as_bytes().get(inner_len) == Some(&b']')
            && inner.matches(':').count() >= 2;
        if plausible {
            self.pos += inner_len + 2;
            return Tok::V6(inner.to_string());
        }
        self.bump();
        Tok::LBracket
    }

    fn punct(&mut self, c: char, start: usize) -> Result<Tok, LexError> {
        let next = self.peek_at(1);
        let (tok, len) = match (c, next) {
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            (']', _) => (Tok::RBracket, 1),
            (',', _) => (Tok::Comma, 1),
            ('=', Some('=')) => (Tok::EqEq, 2),
            ('=', _) => (Tok::Eq, 1),
            ('!', Some('=')) => (Tok::Ne, 2),
            ('|', _) => (Tok::Pipe, 1),
            (':', _) => (Tok::Colon, 1),
            ('*', _) => (Tok::Star, 1),
            ('.', Some('.')) if self.peek_at(2) == Some('.') => (Tok::Ellipsis, 3),
            ('.', Some('.')) => (Tok::DotDot, 2),
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            ('<', Some('=')) => (Tok::Le, 2),
            ('<', _) => (Tok::Lt, 1),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('>', _) => (Tok::Gt, 1),
            _ => {
                self.bump();
                return Err((Mistake::UnexpectedChar { ch: c }, self.span(start)));
            }
        };
        self.pos += len;
        Ok(tok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(line: &str) -> Vec<Tok> {
        lex_line(line, 0)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn name(n: &str) -> Tok {
        Tok::Name(n.to_string())
    }

    #[test]
    fn names_keep_inner_dashes_and_dots() {
        assert_eq!(
            toks("srv-1 net.ipv4.x a..b"),
            vec![
                name("srv-1"),
                name("net.ipv4.x"),
                name("a"),
                Tok::DotDot,
                name("b")
            ]
        );
    }

    #[test]
    fn numbers_take_units_and_radixes() {
        assert_eq!(
            toks("4KiB 0x2a 0o755"),
            vec![
                Tok::Num {
                    value: 4,
                    unit: "KiB".into()
                },
                Tok::Num {
                    value: 42,
                    unit: String::new()
                },
                Tok::Num {
                    value: 0o755,
                    unit: String::new()
                },
            ]
        );
        assert_eq!(
            toks("127.0.0.1:80"),
            vec![
                Tok::Dotted("127.0.0.1".into()),
                Tok::Colon,
                Tok::Num {
                    value: 80,
                    unit: String::new()
                }
            ]
        );
        assert_eq!(
            toks("1..100"),
            vec![
                Tok::Num {
                    value: 1,
                    unit: String::new()
                },
                Tok::DotDot,
                Tok::Num {
                    value: 100,
                    unit: String::new()
                }
            ]
        );
    }

    #[test]
    fn strings_decode_escapes() {
        assert_eq!(
            toks(r#""a\n\x41\"" hex"00 ff10""#),
            vec![Tok::Str(b"a\nA\"".to_vec()), Tok::Hex(vec![0, 0xff, 0x10])]
        );
        assert_eq!(
            lex_line(r#"send(c, "abc"#, 0).unwrap_err().0,
            Mistake::UnterminatedString
        );
        assert_eq!(
            lex_line(r#"hex"0g""#, 0).unwrap_err().0,
            Mistake::BadHexDigit { ch: 'g' }
        );
        assert_eq!(
            lex_line(r#"hex"0 f""#, 0).unwrap_err().0,
            Mistake::OddHexDigits
        );
    }

    #[test]
    fn brackets_tell_ipv6_from_lists() {
        assert_eq!(
            toks("[::1]:0"),
            vec![
                Tok::V6("::1".into()),
                Tok::Colon,
                Tok::Num {
                    value: 0,
                    unit: String::new()
                }
            ]
        );
        assert_eq!(
            toks("[a: POLLIN]"),
            vec![
                Tok::LBracket,
                name("a"),
                Tok::Colon,
                name("POLLIN"),
                Tok::RBracket
            ]
        );
        assert_eq!(toks("[c]")[0], Tok::LBracket);
    }

    #[test]
    fn comments_end_the_line() {
        assert_eq!(
            toks("close(c) # done"),
            vec![name("close"), Tok::LParen, name("c"), Tok::RParen]
        );
        assert_eq!(toks(r##""#" # x"##), vec![Tok::Str(b"#".to_vec())]);
    }
}
