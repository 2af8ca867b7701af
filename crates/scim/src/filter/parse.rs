//! Text → [`Filter`]: a tokenizer and a recursive-descent parser (RFC 7644 §3.4.2.2).
//!
//! The whole input is tokenized first (it is bounded by [`Limits::max_len`]), so the parser
//! works on a slice of tokens with byte spans. Recursion only happens on nesting (`(`, `not (`,
//! `[`), which [`Limits::max_depth`] bounds; `and`/`or` chains are loops, so a long chain
//! costs no stack in the parser. The grammar is in the [module docs](super).

use std::ops::Range;
use std::str::FromStr;

use super::{CompValue, CompareOp, Filter};
use crate::ScimError;
use crate::path::{AttrPath, PatchPath, is_attr_name};

/// Bounds on what the parser accepts, so a hostile filter cannot exhaust memory or stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest filter accepted, in bytes. Default 8192.
    pub max_len: usize,
    /// The deepest nesting accepted: each `(`, `not (` and value path `[` is one level.
    /// `and`/`or` chains do not count (they are parsed in a loop). Default 32.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_len: 8192,
            max_depth: 32,
        }
    }
}

/// Why a filter (or a PATCH path) does not parse: a message and the byte range it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {}", .span.start)]
pub struct FilterError {
    /// What is wrong, naming the offending text.
    pub message: String,
    /// Byte offsets into the input. Empty (`n..n`) when something is missing at `n`.
    pub span: Range<usize>,
}

impl FilterError {
    fn new(message: impl Into<String>, span: Range<usize>) -> Self {
        Self {
            message: message.into(),
            span,
        }
    }
}

impl From<FilterError> for ScimError {
    fn from(e: FilterError) -> Self {
        ScimError::invalid_filter(format!("invalid filter: {e}"))
    }
}

/// Parses a filter with the default [`Limits`].
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    parse_with(input, &Limits::default())
}

/// Parses a filter with the given limits.
pub fn parse_with(input: &str, limits: &Limits) -> Result<Filter, FilterError> {
    let mut p = Parser::new(input, limits)?;
    if p.tokens.is_empty() {
        return Err(FilterError::new("empty filter", 0..input.len()));
    }
    let filter = p.or_expr(false)?;
    match p.peek() {
        None => Ok(filter),
        Some(t) => Err(FilterError::new(
            match t.kind {
                Tok::RParen => "unbalanced ')'".to_owned(),
                Tok::RBracket => "unbalanced ']'".to_owned(),
                _ => format!(
                    "expected 'and', 'or' or end of filter, found {}",
                    t.describe()
                ),
            },
            t.span.clone(),
        )),
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl PatchPath {
    /// Parses a PATCH `path` (RFC 7644 §3.5.2):
    /// `attrPath / attrPath "[" valFilter "]" ["." subAttr]`.
    ///
    /// Errors are [`FilterError`]s with spans into `input`; callers usually report them as
    /// `invalidPath`.
    pub fn parse(input: &str) -> Result<Self, FilterError> {
        let mut p = Parser::new(input, &Limits::default())?;
        let Some(first) = p.next() else {
            return Err(FilterError::new("empty path", 0..input.len()));
        };
        let Tok::Word(word) = first.kind else {
            return Err(FilterError::new(
                format!("expected an attribute path, found {}", first.describe()),
                first.span,
            ));
        };
        let attr = attr_path(word, &first.span)?;
        let mut path = PatchPath {
            attr,
            filter: None,
            sub: None,
        };
        if let Some(open) = p.peek().filter(|t| t.kind == Tok::LBracket) {
            let open = open.span.clone();
            if path.attr.sub.is_some() {
                return Err(no_sub_before_bracket(word, first.span));
            }
            p.pos += 1;
            path.filter = Some(p.bracketed(open)?);
            if let Some(t) = p.peek()
                && let Tok::Word(w) = t.kind
                && let Some(sub) = w.strip_prefix('.')
                && t.span.start == p.prev_end()
            {
                if !is_attr_name(sub) {
                    return Err(FilterError::new(
                        format!("invalid sub-attribute name '{}'", snippet(sub)),
                        t.span.start + 1..t.span.end,
                    ));
                }
                path.sub = Some(sub.to_owned());
                p.pos += 1;
            }
        }
        match p.peek() {
            None => Ok(path),
            Some(t) => Err(FilterError::new(
                format!("unexpected {} after the path", t.describe()),
                t.span.clone(),
            )),
        }
    }
}

/// The keywords that end a bare (unquoted) value rather than being one.
const KEYWORDS: [&str; 13] = [
    "and", "or", "not", "pr", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le",
];

fn compare_op(word: &str) -> Option<CompareOp> {
    Some(match word.to_ascii_lowercase().as_str() {
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => return None,
    })
}

/// Quotes at most 40 characters of user text in a message.
fn snippet(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn attr_path(word: &str, span: &Range<usize>) -> Result<AttrPath, FilterError> {
    // Attribute names and URNs are ASCII (RFC 7644 §3.10, RFC 8141); checking first also
    // spares `AttrPath::parse` text it does not expect.
    if !word.is_ascii() {
        return Err(FilterError::new(
            format!("invalid attribute path '{}': not ASCII", snippet(word)),
            span.clone(),
        ));
    }
    AttrPath::parse(word).map_err(|e| {
        FilterError::new(
            format!("invalid attribute path '{}': {}", snippet(word), e.reason),
            span.clone(),
        )
    })
}

fn no_sub_before_bracket(word: &str, span: Range<usize>) -> FilterError {
    FilterError::new(
        format!(
            "'{}' has a sub-attribute; a value filter follows the attribute itself (emails[...])",
            snippet(word)
        ),
        span,
    )
}

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A quoted string, unescaped.
    Str(String),
    /// A run of anything else up to whitespace, a bracket, a parenthesis or a quote: an
    /// attribute path (URN-qualified ones included), a keyword, a number or a bare value.
    Word(&'a str),
}

#[derive(Debug, Clone)]
struct Token<'a> {
    kind: Tok<'a>,
    span: Range<usize>,
}

impl Token<'_> {
    fn describe(&self) -> String {
        match &self.kind {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Str(s) => format!("string \"{}\"", snippet(s)),
            Tok::Word(w) => format!("'{}'", snippet(w)),
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.kind, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

fn tokenize(input: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            _ => None,
        };
        if let Some(kind) = single {
            chars.next();
            tokens.push(Token {
                kind,
                span: start..start + 1,
            });
        } else if c.is_ascii_whitespace() {
            chars.next();
        } else if c == '"' {
            let (s, end) = string_literal(input, start)?;
            while chars.peek().is_some_and(|&(i, _)| i < end) {
                chars.next();
            }
            tokens.push(Token {
                kind: Tok::Str(s),
                span: start..end,
            });
        } else {
            let mut end = input.len();
            while let Some(&(i, c)) = chars.peek() {
                if c.is_ascii_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                    end = i;
                    break;
                }
                chars.next();
            }
            tokens.push(Token {
                kind: Tok::Word(&input[start..end]),
                span: start..end,
            });
        }
    }
    Ok(tokens)
}

/// Reads the JSON string (RFC 8259 §7) that starts with the quote at `start`; returns it
/// unescaped with the byte offset just past its closing quote.
fn string_literal(input: &str, start: usize) -> Result<(String, usize), FilterError> {
    let mut out = String::new();
    let mut chars = input[start + 1..]
        .char_indices()
        .map(|(i, c)| (i + start + 1, c));
    // A high surrogate waiting for its low half: (its value, where its escape started).
    let mut high: Option<(u16, usize)> = None;
    loop {
        let Some((i, c)) = chars.next() else {
            return Err(FilterError::new("unterminated string", start..input.len()));
        };
        if let Some((_, at)) = high
            && c != '\\'
        {
            return Err(unpaired(at));
        }
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => {
                let Some((j, e)) = chars.next() else {
                    return Err(FilterError::new("unterminated string", start..input.len()));
                };
                let simple = match e {
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '/' => Some('/'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    'u' => None,
                    _ => {
                        return Err(FilterError::new(
                            format!("invalid escape '\\{e}' in string"),
                            i..j + e.len_utf8(),
                        ));
                    }
                };
                if let Some((_, at)) = high
                    && e != 'u'
                {
                    return Err(unpaired(at));
                }
                if let Some(s) = simple {
                    out.push(s);
                    continue;
                }
                let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                let end = i + 2 + hex.len();
                let unit = (hex.len() == 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| u16::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| {
                        FilterError::new(
                            format!("invalid unicode escape '\\u{hex}' in string"),
                            i..end,
                        )
                    })?;
                match (high.take(), unit) {
                    (None, 0xD800..=0xDBFF) => high = Some((unit, i)),
                    (None, 0xDC00..=0xDFFF) => return Err(unpaired(i)),
                    (Some((h, at)), 0xDC00..=0xDFFF) => {
                        let code =
                            0x10000 + ((u32::from(h) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                        out.push(char::from_u32(code).ok_or_else(|| unpaired(at))?);
                    }
                    (Some((_, at)), _) => return Err(unpaired(at)),
                    (None, _) => {
                        // Not a surrogate, so always a scalar value.
                        out.push(char::from_u32(u32::from(unit)).ok_or_else(|| unpaired(i))?);
                    }
                }
            }
            // RFC 8259 §7: control characters must be escaped.
            c if c < '\u{20}' => {
                return Err(FilterError::new(
                    format!(
                        "control character U+{:04X} in string; escape it",
                        u32::from(c)
                    ),
                    i..i + 1,
                ));
            }
            c => out.push(c),
        }
    }
}

fn unpaired(at: usize) -> FilterError {
    FilterError::new("unpaired UTF-16 surrogate escape in string", at..at + 6)
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str, limits: &Limits) -> Result<Self, FilterError> {
        if input.len() > limits.max_len {
            return Err(FilterError::new(
                format!(
                    "filter too long: {} bytes, at most {} allowed",
                    input.len(),
                    limits.max_len
                ),
                // Spans are sliced by callers, so they must fall on character boundaries.
                (0..=limits.max_len)
                    .rev()
                    .find(|&i| input.is_char_boundary(i))
                    .unwrap_or(0)..input.len(),
            ));
        }
        Ok(Self {
            input,
            tokens: tokenize(input)?,
            pos: 0,
            depth: 0,
            max_depth: limits.max_depth,
        })
    }

    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += usize::from(t.is_some());
        t
    }

    /// Where the last consumed token ended.
    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.span.end)
    }

    fn end(&self) -> Range<usize> {
        self.input.len()..self.input.len()
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let hit = self.peek().is_some_and(|t| t.is_keyword(keyword));
        self.pos += usize::from(hit);
        hit
    }

    /// Enters one level of nesting, opened by the token at `span`.
    fn enter(&mut self, span: &Range<usize>) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(FilterError::new(
                format!(
                    "filter nested too deeply: more than {} levels",
                    self.max_depth
                ),
                span.clone(),
            ));
        }
        Ok(())
    }

    /// `filter *("or" filter)`, left-associative. `inner` is set inside a value filter.
    fn or_expr(&mut self, inner: bool) -> Result<Filter, FilterError> {
        let mut left = self.and_expr(inner)?;
        while self.eat_keyword("or") {
            let right = self.and_expr(inner)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, inner: bool) -> Result<Filter, FilterError> {
        let mut left = self.unary(inner)?;
        while self.eat_keyword("and") {
            let right = self.unary(inner)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// A parenthesised filter, `not (filter)`, or an attribute expression.
    fn unary(&mut self, inner: bool) -> Result<Filter, FilterError> {
        let after = |p: &Self| match p.pos.checked_sub(2).and_then(|i| p.tokens.get(i)) {
            Some(t) => format!(" after {}", t.describe()),
            None => String::new(),
        };
        let Some(t) = self.next() else {
            let after = match self.tokens.last() {
                Some(t) => format!(" after {}", t.describe()),
                None => String::new(),
            };
            return Err(FilterError::new(
                format!("missing filter{after}"),
                self.end(),
            ));
        };
        match t.kind {
            Tok::LParen => self.group(t.span, inner),
            Tok::Word(w)
                if w.eq_ignore_ascii_case("not")
                    && self.peek().is_some_and(|n| n.kind == Tok::LParen) =>
            {
                let open = self.next().map(|n| n.span).unwrap_or_default();
                Ok(Filter::Not(Box::new(self.group(open, inner)?)))
            }
            // `not` is also a valid attribute name; it is the operator only before `(`. Before
            // anything that cannot follow an attribute, the `(` was most likely forgotten.
            Tok::Word(w)
                if w.eq_ignore_ascii_case("not")
                    && self.peek().is_none_or(|n| match n.kind {
                        Tok::Word(next) => {
                            !next.eq_ignore_ascii_case("pr") && compare_op(next).is_none()
                        }
                        Tok::Str(_) | Tok::RParen | Tok::RBracket => true,
                        Tok::LParen | Tok::LBracket => false,
                    }) =>
            {
                let span = self.peek().map_or_else(|| self.end(), |n| n.span.clone());
                Err(FilterError::new("expected '(' after 'not'", span))
            }
            Tok::Word(w) => self.attr_expr(w, t.span, inner),
            _ => Err(FilterError::new(
                format!(
                    "expected an attribute path, '(' or 'not'{}, found {}",
                    after(self),
                    t.describe()
                ),
                t.span,
            )),
        }
    }

    /// The rest of `"(" filter ")"`, the `(` at `open` being consumed.
    fn group(&mut self, open: Range<usize>, inner: bool) -> Result<Filter, FilterError> {
        self.enter(&open)?;
        let f = self.or_expr(inner)?;
        self.close(Tok::RParen, open)?;
        Ok(f)
    }

    /// The rest of `"[" valFilter "]"`, the `[` at `open` being consumed.
    fn bracketed(&mut self, open: Range<usize>) -> Result<Filter, FilterError> {
        self.enter(&open)?;
        let f = self.or_expr(true)?;
        self.close(Tok::RBracket, open)?;
        Ok(f)
    }

    fn close(&mut self, closer: Tok<'a>, open: Range<usize>) -> Result<(), FilterError> {
        let (name, closing) = if closer == Tok::RParen {
            ("(", "')'")
        } else {
            ("[", "']'")
        };
        match self.next() {
            Some(t) if t.kind == closer => {
                self.depth -= 1;
                Ok(())
            }
            None => Err(FilterError::new(format!("unclosed '{name}'"), open)),
            Some(t) => Err(FilterError::new(
                format!("expected 'and', 'or' or {closing}, found {}", t.describe()),
                t.span,
            )),
        }
    }

    /// `attrPath "pr"`, `attrPath compareOp compValue`, or a value path, with Entra's
    /// `valuePath "." subAttr (compareOp compValue / "pr")` extension.
    fn attr_expr(
        &mut self,
        word: &'a str,
        span: Range<usize>,
        inner: bool,
    ) -> Result<Filter, FilterError> {
        let path = attr_path(word, &span)?;
        if inner && path.urn.is_some() {
            return Err(FilterError::new(
                format!(
                    "'{}' is URN-qualified, but paths inside a value filter are relative to the element",
                    snippet(word)
                ),
                span,
            ));
        }
        if let Some(t) = self.peek()
            && t.kind == Tok::LBracket
        {
            let open = t.span.clone();
            if inner {
                return Err(FilterError::new(
                    "a value filter cannot contain another value filter",
                    open,
                ));
            }
            if path.sub.is_some() {
                return Err(no_sub_before_bracket(word, span));
            }
            self.pos += 1;
            let mut filter = self.bracketed(open)?;
            // Entra ID sends `emails[type eq "work"].value eq "x"`. It means "some element
            // has type work and value x", which the standard grammar spells
            // `emails[type eq "work" and value eq "x"]`; normalising here keeps the tree
            // (and every consumer of it) standard.
            if let Some(t) = self.peek()
                && let Tok::Word(w) = t.kind
                && let Some(sub) = w.strip_prefix('.')
                && t.span.start == self.prev_end()
            {
                let sub_span = t.span.start + 1..t.span.end;
                if !is_attr_name(sub) {
                    return Err(FilterError::new(
                        format!("invalid sub-attribute name '{}'", snippet(sub)),
                        sub_span,
                    ));
                }
                self.pos += 1;
                let tail = self.operation(AttrPath::attr(sub), sub)?;
                filter = Filter::And(Box::new(filter), Box::new(tail));
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(filter),
            });
        }
        self.operation(path, word)
    }

    /// `"pr"` or `compareOp compValue` after `path`, which was written as `word`.
    fn operation(&mut self, path: AttrPath, word: &str) -> Result<Filter, FilterError> {
        let Some(t) = self.next() else {
            return Err(FilterError::new(
                format!("missing operator after '{}'", snippet(word)),
                self.end(),
            ));
        };
        let Tok::Word(op) = t.kind else {
            return Err(FilterError::new(
                format!(
                    "expected an operator after '{}', found {}",
                    snippet(word),
                    t.describe()
                ),
                t.span,
            ));
        };
        if op.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = compare_op(op) else {
            return Err(FilterError::new(
                format!(
                    "unknown operator '{}' (expected eq, ne, co, sw, ew, gt, ge, lt, le or pr)",
                    snippet(op)
                ),
                t.span,
            ));
        };
        let value = self.value(&t)?;
        Ok(Filter::Compare { path, op, value })
    }

    /// `compValue` after the operator token `op`.
    fn value(&mut self, op: &Token<'a>) -> Result<CompValue, FilterError> {
        let missing =
            |span| FilterError::new(format!("missing value after {}", op.describe()), span);
        let Some(t) = self.peek().cloned() else {
            return Err(missing(self.end()));
        };
        let value = match t.kind {
            Tok::Str(s) => CompValue::String(s),
            Tok::Word(w) if KEYWORDS.iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                return Err(missing(t.span));
            }
            Tok::Word(w) => word_value(w, &t.span)?,
            _ => return Err(missing(t.span)),
        };
        self.pos += 1;
        Ok(value)
    }
}

/// An unquoted literal: `true`, `false`, `null` (any case), a JSON number, or — Entra ID's
/// dialect (`externalId eq jyoung`) — a bare word taken as a string.
fn word_value(w: &str, span: &Range<usize>) -> Result<CompValue, FilterError> {
    if w.eq_ignore_ascii_case("true") {
        return Ok(CompValue::Bool(true));
    }
    if w.eq_ignore_ascii_case("false") {
        return Ok(CompValue::Bool(false));
    }
    if w.eq_ignore_ascii_case("null") {
        return Ok(CompValue::Null);
    }
    // A word made only of number characters is meant as a number, so `01` or `1.` is an
    // error rather than silently becoming the string "01".
    let numeric = w.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'))
        && w.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    if numeric {
        let invalid = || FilterError::new(format!("invalid number '{}'", snippet(w)), span.clone());
        // serde_json checks the JSON number grammar and keeps integers exact. Its float
        // parsing may be one ulp off unless its `float_roundtrip` feature is on, so the float
        // value comes from the standard library, which rounds correctly: a displayed filter
        // then always parses back to the same number.
        let n: serde_json::Number = serde_json::from_str(w).map_err(|_| invalid())?;
        if !n.is_f64() {
            return Ok(CompValue::Number(n));
        }
        let f = w.parse::<f64>().map_err(|_| invalid())?;
        return serde_json::Number::from_f64(f)
            .map(CompValue::Number)
            .ok_or_else(invalid);
    }
    Ok(CompValue::String(w.to_owned()))
}
