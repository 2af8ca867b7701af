//! Mapping expressions: CEL over the SCIM resource, with a small library for directory admins.
//!
//! # Why CEL
//!
//! A mapping expression is written by an administrator and runs inside the SCIM write
//! transaction for every user the IdP touches, and over every user of a connector for a preview.
//! It must therefore be safe to run (no I/O, no unbounded loops, bounded memory), quick to
//! evaluate many times once compiled, and familiar. The candidates:
//!
//! | engine | verdict |
//! |---|---|
//! | [CEL](https://github.com/google/cel-spec) (`cel` crate) | chosen: designed for exactly this (policy and mapping expressions evaluated on untrusted input), not Turing-complete (no loops or recursion; comprehensions only iterate over finite lists), parser depth-capped, C-like syntax that Kubernetes, Google IAM and Envoy admins already know |
//! | Rhai, Lua (mlua), JavaScript (boa) | full scripting languages: loops, functions and state make run time unbounded unless every one of them is metered; a sandbox to get wrong |
//! | JMESPath / JSONata | query languages for JSON: good at selecting, poor at string work (regexes, case) and conditions; less well kept in Rust |
//! | `evalexpr`, hand-written templates | too small: no maps, no lists, no presence tests; a home-grown language that admins must learn |
//!
//! CEL gives compile-at-save, positioned syntax errors and a runtime we can bound; what it lacks
//! (Unicode case, regex replacement, Entra's guest UPNs, SCIM multi-valued attributes) is
//! added below as plain functions.
//!
//! # The language as admins see it
//!
//! The SCIM resource is bound as `user` (attribute mappings, `drop`) or `group` (group names),
//! exactly as the IdP wrote it, with its `id` added: `user.userName`, `user.name.givenName`,
//! `user.emails`, `group.displayName`. Attribute names are case-sensitive in CEL; the standard
//! SCIM attributes are stored with their canonical case (`userName`, `givenName`), so that is
//! what to write. Extension attributes live under their schema URN, which CEL can index:
//! `user['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'].department`, or more
//! simply `ext(user, "department")`.
//!
//! The CEL standard library and its string extension are available (`size`, `contains`,
//! `startsWith`, `endsWith`, `matches`, `split`, `replace`, `substring`, `trim`, `lowerAscii`,
//! `list.join(sep)`, `filter`, `map`, `exists`, `has`, `?:`, `x.?y.orValue(d)`, …), plus:
//!
//! | function | result |
//! |---|---|
//! | `lower(s)`, `upper(s)` (also `s.lower()`, `s.upper()`) | Unicode lower / upper case |
//! | `trim(s)` | `s` without leading and trailing white space |
//! | `regex_replace(s, pattern, replacement)` | every match replaced; `$1`, `${name}` insert capture groups |
//! | `regex_extract(s, pattern)` | the first capture group of the first match (the whole match if the pattern has no group), `""` if none |
//! | `strip_domain(s)` | `s` up to its last `@`: `"adele@contoso.com"` → `"adele"` |
//! | `email_domain(s)` | what follows the last `@`, `""` if none |
//! | `guest_email(upn)` | an Entra guest UPN back to the guest's email: `"adele_fabrikam.com#EXT#@contoso.onmicrosoft.com"` → `"adele@fabrikam.com"`; any other value unchanged |
//! | `coalesce(a, b, …)` | the first argument that is present and not empty (`""`, white space, `null`, `[]`, `{}`); `""` if none |
//! | `concat(a, b, …)` | the arguments as text, one after the other; missing ones count as `""` |
//! | `join(sep, a, b, …)` | the non-empty arguments joined with `sep`: `join(" ", user.name.givenName, user.name.familyName)` |
//! | `primary_email(user)` | the primary email, else the `work` one, else the first; `""` if none |
//! | `work_email(user)` | the email of type `work`; `""` if none |
//! | `ext(user, name)` | an enterprise-extension attribute (`department`, `employeeNumber`, `costCenter`, `organization`, `division`, `manager`), case-insensitive; `""` if missing |
//! | `ext(user, urn, name)` | an attribute of any extension, e.g. Entra's `urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User` |
//! | `attr(resource, path)` | any attribute by path, case-insensitive: `"name.givenName"`, `"urn:…:enterprise:2.0:User:department"`; `""` if missing |
//!
//! All string helpers read a missing value (`null`) as `""`.
//!
//! # Missing attributes
//!
//! IdPs leave out attributes that are empty at the source (Entra never sends a `null`), so a
//! mapping must expect them to be missing. In CEL, selecting a missing key is an error; Roster
//! softens that where an admin would expect "empty":
//!
//! - `coalesce`, `concat` and `join` read a missing attribute as empty: their arguments that are
//!   attribute paths (`user.nickName`, `user.name.givenName`, `user['urn:…'].department`) are
//!   rewritten at compile time to the optional form (`user.?nickName.orValue(null)`);
//! - a text field (`display_name`, `email`, `first_name`, `last_name`, custom attributes) whose
//!   expression stops on a missing attribute is simply empty: `user.title` for a user without a
//!   title sets no title;
//! - a yes/no field (`active`, `drop`) has no safe "empty": an expression that stops on a missing
//!   attribute fails for that user, and the message says which attribute. Write
//!   `has(user.userType) && user.userType == "Guest"` or
//!   `coalesce(user.userType) == "Guest"`;
//! - `username` cannot be empty: a missing attribute there fails the user.
//!
//! # Limits
//!
//! CEL has no loops or recursion, so evaluation time is bounded by the expression and its
//! input. On top of that an expression is at most [`MAX_EXPRESSION_LEN`] bytes, its tree at
//! most [`MAX_DEPTH`] levels deep (the interpreter recurses on the caller's stack), it is parsed
//! on a thread of its own with a large stack (the generated parser recurses deeply),
//! comprehensions (`map`, `filter`, `exists`, …) nest at most [`MAX_COMPREHENSION_NESTING`]
//! deep and appear at most [`MAX_COMPREHENSIONS`] times, regular expressions are capped in
//! length and compiled size, and run-time regular expressions are compiled once per thread and
//! pattern (a bounded cache). Everything that can be checked
//! before running is checked at compile time, with its position: syntax, unknown functions and
//! variables, literal regular expressions. What can only fail at run time (a type mismatch, a
//! regular expression built from data) fails for that one user, as an error value, never a
//! panic.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use cel::common::ast::{CallExpr, Expr, IdedExpr, ListExpr, LiteralValue, SelectExpr, operators};
use cel::common::types::{
    self, CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::{CowVal, Val};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use cel::{Context, DeclarationError, Env, ExecutionError, Program};
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest expression accepted, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 2048;
/// How deep comprehensions (`map`, `filter`, `all`, `exists`, `exists_one`) may nest.
pub const MAX_COMPREHENSION_NESTING: usize = 2;
/// How many comprehensions one expression may hold.
pub const MAX_COMPREHENSIONS: usize = 8;
/// How deep the expression tree may be once parsed (operators, calls, selections). The
/// interpreter recurses once per level on the caller's thread, which may be a 2 MiB async
/// worker, and a debug build spends up to ~50 KiB of stack per level: 16 levels fit in 1 MiB,
/// and are more than a mapping needs (`concat`, `join` and `coalesce` keep long chains flat).
pub const MAX_DEPTH: usize = 16;
/// The stack of the thread expressions are compiled on.
const COMPILE_STACK: usize = 64 * 1024 * 1024;
/// The longest regular expression accepted, in bytes.
pub const MAX_REGEX_LEN: usize = 512;
/// The compiled-size limit of a regular expression (the `regex` crate's `size_limit`).
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Which SCIM resource an expression is evaluated against, and so which variable it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Attribute mappings and `drop`: the SCIM user is `user`.
    User,
    /// Group names: the SCIM group is `group`.
    Group,
}

impl Subject {
    /// The name the resource is bound to.
    #[must_use]
    pub fn variable(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
        }
    }
}

/// Where in a text something is: 1-based line and column (in characters), 0-based byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// 0-based byte offset.
    pub offset: u32,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to the text).
    #[must_use]
    pub fn at_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: saturate(before.matches('\n').count() + 1),
            column: saturate(before[line_start..].chars().count() + 1),
            offset: saturate(offset),
        }
    }

    /// The position of 1-based `line` and `column` (in characters) in `text`.
    #[must_use]
    pub fn at_line_column(text: &str, line: usize, column: usize) -> Self {
        let mut offset = 0;
        for (i, l) in text.split_inclusive('\n').enumerate() {
            if i + 1 == line {
                offset += l
                    .char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(l.len(), |(b, _)| b);
                break;
            }
            offset += l.len();
        }
        Self::at_offset(text, offset)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Why an expression does not compile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompileError {
    /// What is wrong.
    pub message: String,
    /// Where, when it is known.
    pub position: Option<Position>,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why an evaluation did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// The expression selected an attribute (or list element) the resource does not have.
    Missing(String),
    /// Anything else: a type mismatch, a failing function, a bad regular expression.
    Failed(String),
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(what) => write!(
                f,
                "missing attribute {what} (use has(), coalesce() or ?. for optional attributes)"
            ),
            Self::Failed(message) => f.write_str(message),
        }
    }
}

impl From<ExecutionError> for EvalError {
    fn from(e: ExecutionError) -> Self {
        match e {
            ExecutionError::NoSuchKey(key) => Self::Missing(format!("'{key}'")),
            ExecutionError::IndexOutOfBounds(_) => {
                Self::Missing("(list index out of range)".into())
            }
            other => Self::Failed(other.to_string()),
        }
    }
}

/// A compiled expression: parsed and checked once, evaluated many times.
pub struct Expression {
    source: String,
    subject: Subject,
    program: Program,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expression")
            .field("source", &self.source)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl Expression {
    /// Compiles `source` for `subject`: parses it, expands the library's macros and checks that
    /// it names only known functions and variables, nests comprehensions within the limits and
    /// that its literal regular expressions compile.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its position in `source`.
    pub fn compile(source: &str, subject: Subject) -> Result<Self, Vec<CompileError>> {
        // The generated (ANTLR) parser recurses deeply: in a debug build one level of
        // parentheses takes ~150 KiB of stack, so a 2 MiB worker thread overflows (and the
        // process aborts) at 15 levels, well below the parser's own limit of 96. Compiling on a
        // thread of our own with a large stack keeps any input from crashing the server; the
        // stack is only reserved address space until used.
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("roster-cel-compile".into())
                .stack_size(COMPILE_STACK)
                .spawn_scoped(scope, || Self::compile_here(source, subject))
                .map_err(|e| {
                    vec![CompileError {
                        message: format!("cannot compile now: {e}"),
                        position: None,
                    }]
                })?
                .join()
                .unwrap_or_else(|_| {
                    Err(vec![CompileError {
                        message: "the expression could not be compiled".into(),
                        position: None,
                    }])
                })
        })
    }

    fn compile_here(source: &str, subject: Subject) -> Result<Self, Vec<CompileError>> {
        if source.len() > MAX_EXPRESSION_LEN {
            return Err(vec![CompileError {
                message: format!(
                    "the expression is {} bytes long; at most {MAX_EXPRESSION_LEN} are allowed",
                    source.len()
                ),
                position: None,
            }]);
        }
        if source.trim().is_empty() {
            return Err(vec![CompileError {
                message: "the expression is empty".into(),
                position: None,
            }]);
        }
        // Only the first syntax error: the parser's later ones are mostly its own confusion
        // after the first.
        let program = ENV.compile(source).map_err(|errors| {
            errors
                .errors
                .iter()
                .take(1)
                .map(|e| parse_error(source, e))
                .collect::<Vec<_>>()
        })?;
        let mut checker = Checker {
            program: &program,
            source,
            scopes: vec![subject.variable().to_owned()],
            depth: 0,
            level: 0,
            too_deep: false,
            comprehensions: 0,
            errors: Vec::new(),
        };
        checker.visit(program.expression());
        if checker.too_deep {
            checker.errors.push(CompileError {
                message: format!(
                    "the expression nests more than {MAX_DEPTH} levels deep; split it or use concat(), join() or coalesce()"
                ),
                position: None,
            });
        }
        if checker.comprehensions > MAX_COMPREHENSIONS {
            checker.errors.push(CompileError {
                message: format!(
                    "{} comprehensions (map, filter, all, exists, exists_one); at most {MAX_COMPREHENSIONS} are allowed",
                    checker.comprehensions
                ),
                position: None,
            });
        }
        if checker.errors.is_empty() {
            Ok(Self {
                source: source.to_owned(),
                subject,
                program,
            })
        } else {
            let mut errors = checker.errors;
            errors.dedup();
            Err(errors)
        }
    }

    /// The expression as written.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Which resource it reads.
    #[must_use]
    pub fn subject(&self) -> Subject {
        self.subject
    }

    /// Evaluates it against a resource bound in `scope`.
    pub(crate) fn eval(&self, scope: &Scope) -> Result<cel::Value, EvalError> {
        debug_assert_eq!(
            self.subject, scope.subject,
            "expression bound to the wrong resource"
        );
        // The interpreter is a dependency: should it ever panic on some input, that must fail
        // one user, not the SCIM write (a 5xx makes Entra retry for weeks). Nothing is shared
        // mutably, so unwinding leaves no broken state behind.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.program.execute(&scope.context)
        }))
        .unwrap_or_else(|_| {
            Err(ExecutionError::InternalError(
                "the expression engine failed on this input".into(),
            ))
        })
        .map_err(EvalError::from)
    }

    /// Evaluates it against a SCIM resource and returns the result as JSON: what a settings
    /// page shows when an admin tries an expression on a sample user or group.
    ///
    /// # Errors
    ///
    /// The evaluation error, or a result JSON cannot represent.
    pub fn evaluate_json(
        &self,
        id: &str,
        resource: &Map<String, Value>,
    ) -> Result<Value, EvalError> {
        let scope = Scope::new(self.subject, id, resource);
        let value = self.eval(&scope)?;
        value
            .json()
            .map_err(|e| EvalError::Failed(format!("the result has no JSON form: {e}")))
    }
}

fn parse_error(source: &str, e: &ParseError) -> CompileError {
    let line = usize::try_from(e.pos.0).unwrap_or(0);
    let column = usize::try_from(e.pos.1).unwrap_or(0);
    // ANTLR's messages list every token it expected; the first line says what went wrong.
    let message = if e.msg.contains("Recursion limit") {
        "the expression nests too deeply (at most 96 levels)".to_owned()
    } else {
        e.msg
            .strip_prefix("Syntax error: ")
            .unwrap_or(&e.msg)
            .to_owned()
    };
    CompileError {
        message,
        position: (line > 0).then(|| Position::at_line_column(source, line, column.max(1))),
    }
}

/// A SCIM resource bound for evaluation. Built once per resource and shared by every
/// expression evaluated against it (the username, the email, the drop condition, …).
pub(crate) struct Scope {
    subject: Subject,
    context: Context<'static, 'static>,
}

impl Scope {
    /// Binds `resource` (with `id` added) as the subject's variable.
    pub(crate) fn new(subject: Subject, id: &str, resource: &Map<String, Value>) -> Self {
        let mut context = Context::with_env(Arc::clone(&ENV));
        let mut map = object_to_cel(resource);
        if !resource.contains_key("id") {
            map.insert(
                CelMapKey::String(CelString::from("id".to_owned())),
                Box::new(CelString::from(id.to_owned())),
            );
        }
        context.add_variable_as_val(subject.variable(), Box::new(CelMap::from(map)));
        Self { subject, context }
    }
}

fn object_to_cel(object: &Map<String, Value>) -> HashMap<CelMapKey<'static>, Box<dyn Val>> {
    object
        .iter()
        .map(|(k, v)| {
            (
                CelMapKey::String(CelString::from(k.clone())),
                json_to_cel(v),
            )
        })
        .collect()
}

/// JSON to CEL. Integers become `int` (not `uint`, which `serde` would pick for positive
/// numbers and which does not mix with `int` literals: `user.x + 1` must work).
fn json_to_cel(value: &Value) -> Box<dyn Val> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Value::String(s) => Box::new(CelString::from(s.clone())),
        Value::Array(items) => Box::new(CelList::from(
            items.iter().map(json_to_cel).collect::<Vec<_>>(),
        )),
        Value::Object(object) => Box::new(CelMap::from(object_to_cel(object))),
    }
}

// ---------------------------------------------------------------------------------------------
// Compile-time checks
// ---------------------------------------------------------------------------------------------

/// Global functions an expression may call: the CEL standard library, the string extension and
/// the mapping library. Anything else is refused at compile time, so a typo is an error when the
/// settings are saved rather than a failure for every user.
const GLOBAL_FUNCTIONS: &[&str] = &[
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "bytes",
    "dyn",
    "type",
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "strings.quote",
    // the mapping library
    "lower",
    "upper",
    "trim",
    "regex_replace",
    "regex_extract",
    "strip_domain",
    "email_domain",
    "guest_email",
    "primary_email",
    "work_email",
    "ext",
    "attr",
    // the targets of the library's macros
    "_coalesce",
    "_concat",
    "_join",
    "_re_matches",
];

/// The operators, as the parser names them.
const OPERATORS: &[&str] = &[
    operators::CONDITIONAL,
    operators::LOGICAL_AND,
    operators::LOGICAL_OR,
    operators::LOGICAL_NOT,
    operators::SUBSTRACT,
    operators::ADD,
    operators::MULTIPLY,
    operators::DIVIDE,
    operators::MODULO,
    operators::EQUALS,
    operators::NOT_EQUALS,
    operators::GREATER_EQUALS,
    operators::LESS_EQUALS,
    operators::GREATER,
    operators::LESS,
    operators::NEGATE,
    operators::INDEX,
    operators::OPT_INDEX,
    operators::OPT_SELECT,
    operators::NOT_STRICTLY_FALSE,
    operators::IN,
];

/// Member functions (`x.f(…)`).
const MEMBER_FUNCTIONS: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "charAt",
    "indexOf",
    "lastIndexOf",
    "join",
    "lowerAscii",
    "upperAscii",
    "trim",
    "replace",
    "split",
    "substring",
    "reverse",
    "value",
    "hasValue",
    "or",
    "orValue",
    "lower",
    "upper",
];

/// Type names an expression may mention, as in `type(x) == string`.
const TYPE_NAMES: &[&str] = &[
    "bool",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
];

/// The library functions whose second argument is a regular expression.
const REGEX_FUNCTIONS: &[&str] = &["regex_replace", "regex_extract", "_re_matches"];

struct Checker<'a> {
    program: &'a Program,
    source: &'a str,
    scopes: Vec<String>,
    /// Comprehension nesting.
    depth: usize,
    /// Tree depth.
    level: usize,
    too_deep: bool,
    comprehensions: usize,
    errors: Vec<CompileError>,
}

impl Checker<'_> {
    fn position(&self, id: u64) -> Option<Position> {
        let (start, _) = self.program.source_info().offset_for(id)?;
        Some(Position::at_offset(self.source, start as usize))
    }

    fn error(&mut self, id: u64, message: String) {
        let position = self.position(id);
        self.errors.push(CompileError { message, position });
    }

    fn bound(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s == name)
    }

    fn visit(&mut self, e: &IdedExpr) {
        self.level += 1;
        if self.level > MAX_DEPTH {
            self.too_deep = true;
        } else {
            self.visit_node(e);
        }
        self.level -= 1;
    }

    fn visit_node(&mut self, e: &IdedExpr) {
        match &e.expr {
            Expr::Unspecified | Expr::Literal(_) => {}
            Expr::Ident(name) => {
                if !self.bound(name) && !TYPE_NAMES.contains(&name.as_str()) {
                    let hint = match self.scopes.first().map(String::as_str) {
                        Some("user") => " (the SCIM user is `user`)",
                        Some("group") => " (the SCIM group is `group`)",
                        _ => "",
                    };
                    self.error(e.id, format!("unknown variable '{name}'{hint}"));
                }
            }
            Expr::Select(select) => self.visit(&select.operand),
            Expr::List(list) => list.elements.iter().for_each(|x| self.visit(x)),
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(entry) = &entry.expr {
                        self.visit(&entry.key);
                        self.visit(&entry.value);
                    }
                }
            }
            Expr::Struct(s) => self.error(
                e.id,
                format!(
                    "message construction ('{}{{…}}') is not supported",
                    s.type_name
                ),
            ),
            Expr::Comprehension(c) => {
                self.comprehensions += 1;
                self.visit(&c.iter_range);
                self.visit(&c.accu_init);
                self.depth += 1;
                if self.depth > MAX_COMPREHENSION_NESTING {
                    self.error(
                        e.id,
                        format!(
                            "comprehensions (map, filter, all, exists, exists_one) nest at most {MAX_COMPREHENSION_NESTING} deep"
                        ),
                    );
                }
                let pushed = 2 + usize::from(c.iter_var2.is_some());
                self.scopes.push(c.iter_var.clone());
                self.scopes.extend(c.iter_var2.clone());
                self.scopes.push(c.accu_var.clone());
                self.visit(&c.loop_cond);
                self.visit(&c.loop_step);
                self.visit(&c.result);
                self.scopes.truncate(self.scopes.len() - pushed);
                self.depth -= 1;
            }
            Expr::Call(call) => self.visit_call(e.id, call),
        }
    }

    fn visit_call(&mut self, id: u64, call: &CallExpr) {
        let name = call.func_name.as_str();
        let is_operator = OPERATORS.contains(&name);
        match &call.target {
            None => {
                if !is_operator && !GLOBAL_FUNCTIONS.contains(&name) {
                    self.error(id, unknown_function(name, false));
                }
            }
            Some(target) => {
                // `optional.of(x)` parses as a call of `of` on the identifier `optional`.
                let namespaced = match &target.expr {
                    Expr::Ident(ns) if !self.bound(ns) => Some(format!("{ns}.{name}")),
                    _ => None,
                };
                match namespaced {
                    Some(full) if GLOBAL_FUNCTIONS.contains(&full.as_str()) => {}
                    Some(full) if !MEMBER_FUNCTIONS.contains(&name) => {
                        self.error(id, unknown_function(&full, false));
                    }
                    _ => {
                        if !MEMBER_FUNCTIONS.contains(&name) {
                            self.error(id, unknown_function(name, true));
                        }
                        self.visit(target);
                    }
                }
            }
        }
        if REGEX_FUNCTIONS.contains(&name)
            && let Some(IdedExpr {
                expr: Expr::Literal(LiteralValue::String(pattern)),
                ..
            }) = call.args.get(1)
            && let Err(message) = compile_regex(pattern.inner())
        {
            self.error(id, message);
        }
        call.args.iter().for_each(|a| self.visit(a));
    }
}

fn unknown_function(name: &str, member: bool) -> String {
    let known: Vec<&str> = if member {
        MEMBER_FUNCTIONS.to_vec()
    } else {
        GLOBAL_FUNCTIONS
            .iter()
            .copied()
            .filter(|f| !f.starts_with('_'))
            .chain(["coalesce", "concat", "join", "matches"])
            .collect()
    };
    let style = if member { "method" } else { "function" };
    format!("unknown {style} '{name}'; known: {}", known.join(", "))
}

/// Compiles a regular expression within the size limits.
///
/// # Errors
///
/// The regex crate's message (which points at the offending part), or the length limit.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!(
            "the regular expression is {} bytes long; at most {MAX_REGEX_LEN} are allowed",
            pattern.len()
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regular expression: {e}"))
}

thread_local! {
    /// Regular expressions built at run time (from data, or literals in expressions), compiled
    /// once per thread. Bounded: it is emptied when full, which only costs recompiling.
    static REGEX_CACHE: RefCell<HashMap<String, Result<Regex, String>>> = RefCell::new(HashMap::new());
}
const REGEX_CACHE_CAPACITY: usize = 256;

fn cached_regex(pattern: &str) -> Result<Regex, String> {
    REGEX_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(found) = cache.get(pattern) {
            return found.clone();
        }
        if cache.len() >= REGEX_CACHE_CAPACITY {
            cache.clear();
        }
        let compiled = compile_regex(pattern);
        cache.insert(pattern.to_owned(), compiled.clone());
        compiled
    })
}

// ---------------------------------------------------------------------------------------------
// The environment: standard library, string extension, mapping library
// ---------------------------------------------------------------------------------------------

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .and_then(|()| register(&mut env))
        .expect("the mapping library declares each function and macro once");
    Arc::new(env)
});

type Args<'b, 'v> = Vec<CowVal<'b, 'v>>;
type Ret<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;

fn register(env: &mut Env) -> Result<(), DeclarationError> {
    // `Type` is not `Clone`: each use of the constants makes a fresh value.
    const S: cel::common::types::Type = types::STRING_TYPE;
    const D: cel::common::types::Type = types::DYN_TYPE;
    const L: cel::common::types::Type = types::LIST_TYPE;
    env.add_overload("lower", "roster_lower", vec![D], lower)?;
    env.add_member_overload("lower", "roster_string_lower", S, vec![], lower)?;
    env.add_overload("upper", "roster_upper", vec![D], upper)?;
    env.add_member_overload("upper", "roster_string_upper", S, vec![], upper)?;
    env.add_overload("trim", "roster_trim", vec![D], trim)?;
    env.add_overload(
        "regex_replace",
        "roster_regex_replace",
        vec![D, S, S],
        regex_replace,
    )?;
    env.add_overload(
        "regex_extract",
        "roster_regex_extract",
        vec![D, S],
        regex_extract,
    )?;
    env.add_overload("_re_matches", "roster_re_matches", vec![D, S], re_matches)?;
    env.add_overload("strip_domain", "roster_strip_domain", vec![D], strip_domain)?;
    env.add_overload("email_domain", "roster_email_domain", vec![D], email_domain)?;
    env.add_overload("guest_email", "roster_guest_email", vec![D], guest_email)?;
    env.add_overload(
        "primary_email",
        "roster_primary_email",
        vec![D],
        primary_email,
    )?;
    env.add_overload("work_email", "roster_work_email", vec![D], work_email)?;
    env.add_overload("ext", "roster_ext", vec![D, S], ext)?;
    env.add_overload("ext", "roster_ext_urn", vec![D, S, S], ext_urn)?;
    env.add_overload("attr", "roster_attr", vec![D, S], attr)?;
    env.add_overload("_coalesce", "roster_coalesce", vec![L], coalesce)?;
    env.add_overload("_concat", "roster_concat", vec![L], concat)?;
    env.add_overload("_join", "roster_join", vec![D, L], join)?;

    env.add_macro(Macro::global_var_arg("coalesce", |h, _, args| {
        let items = std::mem::take(args);
        Ok(Some(call_with_list(h, "_coalesce", None, items)))
    }))?;
    env.add_macro(Macro::global_var_arg("concat", |h, _, args| {
        let items = std::mem::take(args);
        Ok(Some(call_with_list(h, "_concat", None, items)))
    }))?;
    env.add_macro(Macro::global_var_arg("join", |h, _, args| {
        if args.is_empty() {
            let here = h.next_expr(Expr::Unspecified).id;
            return Err(h.new_error(here, "join() needs a separator"));
        }
        let mut items = std::mem::take(args);
        let separator = items.remove(0);
        Ok(Some(call_with_list(h, "_join", Some(separator), items)))
    }))?;
    // `matches` is re-routed to a version that caches compiled expressions: the standard one
    // compiles its pattern at every call, which a preview over 100,000 users would feel.
    env.add_macro(Macro::receiver("matches", 1, |h, target, args| {
        let subject = target.take().unwrap_or_default();
        let pattern = args.pop().unwrap_or_default();
        Ok(Some(h.next_expr(Expr::Call(CallExpr {
            func_name: "_re_matches".into(),
            target: None,
            args: vec![subject, pattern],
        }))))
    }))?;
    env.add_macro(Macro::global("matches", 2, |h, _, args| {
        let args = std::mem::take(args);
        Ok(Some(h.next_expr(Expr::Call(CallExpr {
            func_name: "_re_matches".into(),
            target: None,
            args,
        }))))
    }))?;
    Ok(())
}

/// `f(first?, [items…])`, each item that is an attribute path made missing-tolerant.
fn call_with_list(
    h: &mut MacroExprHelper<'_>,
    function: &str,
    first: Option<IdedExpr>,
    items: Vec<IdedExpr>,
) -> IdedExpr {
    let elements = items.into_iter().map(|e| tolerant(h, e)).collect();
    let list = h.next_expr(Expr::List(ListExpr::new(elements)));
    h.next_expr(Expr::Call(CallExpr {
        func_name: function.into(),
        target: None,
        args: first.into_iter().chain([list]).collect(),
    }))
}

/// Rewrites an attribute path (`user.a.b`, `user['urn:…'].c`) into its optional form ending in
/// `.orValue(null)`, so that a missing attribute reads as `null`; leaves anything else alone.
fn tolerant(h: &mut MacroExprHelper<'_>, e: IdedExpr) -> IdedExpr {
    let is_path = !matches!(e.expr, Expr::Ident(_));
    match optional_path(h, e) {
        Ok(path) if is_path => {
            let null = h.next_expr(Expr::Literal(LiteralValue::Null));
            h.next_expr(Expr::Call(CallExpr {
                func_name: "orValue".into(),
                target: Some(Box::new(path)),
                args: vec![null],
            }))
        }
        Ok(e) | Err(e) => e,
    }
}

/// `Ok(rewritten)` if `e` is a path rooted at an identifier, else `Err(e)` unchanged.
fn optional_path(h: &mut MacroExprHelper<'_>, e: IdedExpr) -> Result<IdedExpr, IdedExpr> {
    let IdedExpr { id, expr } = e;
    match expr {
        Expr::Ident(_) => Ok(IdedExpr { id, expr }),
        Expr::Select(select) if !select.test => {
            let SelectExpr {
                operand,
                field,
                test,
            } = select;
            match optional_path(h, *operand) {
                Ok(operand) => {
                    let field = h.next_expr(Expr::Literal(LiteralValue::String(field.into())));
                    Ok(h.next_expr(Expr::Call(CallExpr {
                        func_name: operators::OPT_SELECT.into(),
                        target: None,
                        args: vec![operand, field],
                    })))
                }
                Err(operand) => Err(IdedExpr {
                    id,
                    expr: Expr::Select(SelectExpr {
                        operand: Box::new(operand),
                        field,
                        test,
                    }),
                }),
            }
        }
        Expr::Call(call)
            if call.target.is_none()
                && call.args.len() == 2
                && (call.func_name == operators::INDEX
                    || call.func_name == operators::OPT_INDEX) =>
        {
            let mut args = call.args;
            let index = args.pop().unwrap_or_default();
            let target = args.pop().unwrap_or_default();
            match optional_path(h, target) {
                Ok(target) => Ok(h.next_expr(Expr::Call(CallExpr {
                    func_name: operators::OPT_INDEX.into(),
                    target: None,
                    args: vec![target, index],
                }))),
                Err(target) => Err(IdedExpr {
                    id,
                    expr: Expr::Call(CallExpr {
                        func_name: call.func_name,
                        target: None,
                        args: vec![target, index],
                    }),
                }),
            }
        }
        expr => Err(IdedExpr { id, expr }),
    }
}

// ---------------------------------------------------------------------------------------------
// The functions
// ---------------------------------------------------------------------------------------------

fn arg<'a, 'b, 'v>(args: &'a Args<'b, 'v>, i: usize) -> Result<&'a (dyn Val + 'v), ExecutionError> {
    args.get(i)
        .map(AsRef::as_ref)
        .ok_or_else(|| ExecutionError::invalid_argument_count(i + 1, args.len()))
}

/// A string argument; `null` reads as `""`.
fn text<'a, 'v>(function: &str, v: &'a (dyn Val + 'v)) -> Result<&'a str, ExecutionError> {
    if let Some(s) = v.downcast_ref::<CelString>() {
        Ok(s.inner())
    } else if v.downcast_ref::<CelNull>().is_some() {
        Ok("")
    } else {
        Err(ExecutionError::function_error(
            function,
            format!("expects a string, got {}", v.get_type().name()),
        ))
    }
}

/// A scalar as text, for `concat` and `join`; `None` for `null`.
fn display<'a, 'v>(
    function: &str,
    v: &'a (dyn Val + 'v),
) -> Result<Option<Cow<'a, str>>, ExecutionError> {
    if let Some(s) = v.downcast_ref::<CelString>() {
        Ok(Some(Cow::Borrowed(s.inner())))
    } else if v.downcast_ref::<CelNull>().is_some() {
        Ok(None)
    } else if let Some(i) = v.downcast_ref::<CelInt>() {
        Ok(Some(Cow::Owned(i.inner().to_string())))
    } else if let Some(u) = v.downcast_ref::<CelUInt>() {
        Ok(Some(Cow::Owned(u.inner().to_string())))
    } else if let Some(f) = v.downcast_ref::<CelDouble>() {
        Ok(Some(Cow::Owned(f.inner().to_string())))
    } else if let Some(b) = v.downcast_ref::<CelBool>() {
        Ok(Some(Cow::Owned(b.inner().to_string())))
    } else {
        Err(ExecutionError::function_error(
            function,
            format!("cannot turn a {} into text", v.get_type().name()),
        ))
    }
}

fn string<'b, 'v>(s: impl Into<String>) -> Ret<'b, 'v> {
    Ok(CowVal::owned(CelString::from(s.into())))
}

fn items<'a, 'v>(
    function: &str,
    v: &'a (dyn Val + 'v),
) -> Result<&'a [Box<dyn Val + 'v>], ExecutionError> {
    v.downcast_ref::<CelList>()
        .map(CelList::inner)
        .ok_or_else(|| ExecutionError::function_error(function, "expects a list"))
}

fn lower<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    string(text("lower", arg(&args, 0)?)?.to_lowercase())
}

fn upper<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    string(text("upper", arg(&args, 0)?)?.to_uppercase())
}

fn trim<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    string(text("trim", arg(&args, 0)?)?.trim())
}

fn regex_replace<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    const F: &str = "regex_replace";
    let s = text(F, arg(&args, 0)?)?;
    let re =
        cached_regex(text(F, arg(&args, 1)?)?).map_err(|e| ExecutionError::function_error(F, e))?;
    let replacement = text(F, arg(&args, 2)?)?;
    string(re.replace_all(s, replacement).into_owned())
}

fn regex_extract<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    const F: &str = "regex_extract";
    let s = text(F, arg(&args, 0)?)?;
    let re =
        cached_regex(text(F, arg(&args, 1)?)?).map_err(|e| ExecutionError::function_error(F, e))?;
    let found = re
        .captures(s)
        .and_then(|c| c.get(1).or_else(|| c.get(0)))
        .map_or("", |m| m.as_str());
    string(found)
}

fn re_matches<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    const F: &str = "matches";
    let s = text(F, arg(&args, 0)?)?;
    let re =
        cached_regex(text(F, arg(&args, 1)?)?).map_err(|e| ExecutionError::function_error(F, e))?;
    Ok(CowVal::owned(CelBool::from(re.is_match(s))))
}

fn strip_domain<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let s = text("strip_domain", arg(&args, 0)?)?;
    string(s.rsplit_once('@').map_or(s, |(local, _)| local))
}

fn email_domain<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let s = text("email_domain", arg(&args, 0)?)?;
    string(s.rsplit_once('@').map_or("", |(_, domain)| domain))
}

fn guest_email<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    string(guest_upn_to_email(text("guest_email", arg(&args, 0)?)?))
}

/// Entra ID (B2B) names a guest `{email with '@' replaced by '_'}#EXT#@{tenant}`. The domain of
/// an email address cannot hold '_', so the last '_' before `#EXT#` is the '@'.
pub(crate) fn guest_upn_to_email(upn: &str) -> String {
    let Some(at) = upn.to_ascii_uppercase().find("#EXT#") else {
        return upn.to_owned();
    };
    let mangled = &upn[..at];
    match mangled.rsplit_once('_') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            format!("{local}@{domain}")
        }
        _ => upn.to_owned(),
    }
}

fn coalesce<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    for item in items("coalesce", arg(&args, 0)?)? {
        if !is_empty(item.as_ref()) {
            return Ok(CowVal::Owned(item.clone()));
        }
    }
    string("")
}

fn is_empty(v: &dyn Val) -> bool {
    if v.downcast_ref::<CelNull>().is_some() {
        true
    } else if let Some(s) = v.downcast_ref::<CelString>() {
        s.inner().trim().is_empty()
    } else if let Some(l) = v.downcast_ref::<CelList>() {
        l.inner().is_empty()
    } else if let Some(m) = v.downcast_ref::<CelMap>() {
        m.inner().is_empty()
    } else {
        false
    }
}

fn concat<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let mut out = String::new();
    for item in items("concat", arg(&args, 0)?)? {
        if let Some(s) = display("concat", item.as_ref())? {
            out.push_str(&s);
        }
    }
    string(out)
}

fn join<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let separator = text("join", arg(&args, 0)?)?;
    let mut parts = Vec::new();
    for item in items("join", arg(&args, 1)?)? {
        if let Some(s) = display("join", item.as_ref())?
            && !s.trim().is_empty()
        {
            parts.push(s);
        }
    }
    string(parts.join(separator))
}

/// The value under `key` in a CEL map, the key compared case-insensitively (SCIM attribute
/// names are case-insensitive, RFC 7643 §2.1). An exact match wins.
fn get_ci<'a, 'v>(v: &'a (dyn Val + 'v), key: &str) -> Option<&'a (dyn Val + 'v)> {
    let map = v.downcast_ref::<CelMap>()?.inner();
    let mut found = None;
    for (k, value) in map {
        if let CelMapKey::String(name) = k {
            if name.inner() == key {
                return Some(value.as_ref());
            }
            if found.is_none() && name.inner().eq_ignore_ascii_case(key) {
                found = Some(value.as_ref());
            }
        }
    }
    found
}

fn emails<'a, 'v>(user: &'a (dyn Val + 'v)) -> &'a [Box<dyn Val + 'v>] {
    get_ci(user, "emails")
        .and_then(|e| e.downcast_ref::<CelList>())
        .map_or(&[], CelList::inner)
}

fn email_value<'a, 'v>(email: &'a (dyn Val + 'v)) -> Option<&'a str> {
    get_ci(email, "value")
        .and_then(|v| v.downcast_ref::<CelString>())
        .map(CelString::inner)
        .filter(|s| !s.trim().is_empty())
}

fn is_true(v: Option<&dyn Val>) -> bool {
    v.and_then(|v| v.downcast_ref::<CelBool>())
        .is_some_and(|b| *b.inner())
}

fn has_type(email: &dyn Val, wanted: &str) -> bool {
    get_ci(email, "type")
        .and_then(|t| t.downcast_ref::<CelString>())
        .is_some_and(|t| t.inner().eq_ignore_ascii_case(wanted))
}

fn primary_email<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let list = emails(arg(&args, 0)?);
    let pick = |keep: &dyn Fn(&dyn Val) -> bool| {
        list.iter()
            .map(AsRef::as_ref)
            .filter(|e| keep(*e))
            .find_map(email_value)
    };
    let found = pick(&|e| is_true(get_ci(e, "primary")))
        .or_else(|| pick(&|e| has_type(e, "work")))
        .or_else(|| pick(&|_| true));
    string(found.unwrap_or(""))
}

fn work_email<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let found = emails(arg(&args, 0)?)
        .iter()
        .map(AsRef::as_ref)
        .filter(|e| has_type(*e, "work"))
        .find_map(email_value);
    string(found.unwrap_or(""))
}

/// The enterprise user extension (RFC 7643 §4.3).
pub(crate) const ENTERPRISE_USER: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn found<'b, 'v>(v: Option<&(dyn Val + 'v)>) -> Ret<'b, 'v> {
    match v {
        Some(v) if v.downcast_ref::<CelNull>().is_none() => Ok(CowVal::Owned(v.clone_as_boxed())),
        _ => string(""),
    }
}

fn ext<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let name = text("ext", arg(&args, 1)?)?;
    found(get_ci(arg(&args, 0)?, ENTERPRISE_USER).and_then(|e| get_ci(e, name)))
}

fn ext_urn<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let urn = text("ext", arg(&args, 1)?)?;
    let name = text("ext", arg(&args, 2)?)?;
    found(get_ci(arg(&args, 0)?, urn).and_then(|e| get_ci(e, name)))
}

fn attr<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let resource = arg(&args, 0)?;
    let path = text("attr", arg(&args, 1)?)?;
    found(lookup_path(resource, path))
}

/// Resolves `name.givenName` or `urn:…:User:department` (or `urn:…:User.department`) in a
/// resource, case-insensitively.
fn lookup_path<'a, 'v>(resource: &'a (dyn Val + 'v), path: &str) -> Option<&'a (dyn Val + 'v)> {
    let is_urn = path
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        && path.len() > 4;
    let (mut current, rest) = if is_urn {
        // The longest key that prefixes the path and ends where a ':' or '.' follows.
        let map = resource.downcast_ref::<CelMap>()?.inner();
        let mut best: Option<(&'a (dyn Val + 'v), usize)> = None;
        for (k, v) in map {
            let CelMapKey::String(key) = k else { continue };
            let key = key.inner();
            let n = key.len();
            let prefixes = path.len() > n
                && path.is_char_boundary(n)
                && path[..n].eq_ignore_ascii_case(key)
                && matches!(path.as_bytes()[n], b':' | b'.');
            if prefixes && best.is_none_or(|(_, m)| n > m) {
                best = Some((v.as_ref(), n));
            }
        }
        let (value, n) = best?;
        (value, &path[n + 1..])
    } else {
        (resource, path)
    };
    for segment in rest.split('.') {
        current = get_ci(current, segment)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entra_user() -> Map<String, Value> {
        let Value::Object(user) = json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "externalId": "AdeleV",
            "userName": "AdeleV@contoso.onmicrosoft.com",
            "active": true,
            "displayName": "Adele Vance",
            "title": "Retail Manager",
            "emails": [
                {"value": "adele.home@example.com", "type": "home"},
                {"value": "AdeleV@contoso.com", "type": "work", "primary": true}
            ],
            "name": {"formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "100101",
                "department": "Retail",
                "manager": {"value": "26118915-6090-4610-87a4-49d0767e9b43"}
            },
            "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {
                "costCenterCode": "CC-17",
                "level": 7
            }
        }) else {
            unreachable!()
        };
        user
    }

    fn guest_user() -> Map<String, Value> {
        let Value::Object(user) = json!({
            "userName": "jordan_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "active": true,
            "emails": [{"value": "jordan@fabrikam.com", "type": "other"}],
            "name": {"givenName": "Jordan"}
        }) else {
            unreachable!()
        };
        user
    }

    fn eval_on(source: &str, user: &Map<String, Value>) -> Result<Value, EvalError> {
        let expr = Expression::compile(source, Subject::User)
            .unwrap_or_else(|e| panic!("{source}: {e:?}"));
        expr.evaluate_json("2819c223", user)
    }

    #[test]
    fn library_on_entra_shaped_users() {
        let adele = entra_user();
        let jordan = guest_user();
        let cases: &[(&str, &Map<String, Value>, Value)] = &[
            (
                "user.userName",
                &adele,
                json!("AdeleV@contoso.onmicrosoft.com"),
            ),
            ("user.id", &adele, json!("2819c223")),
            (
                "user.userName.lowerAscii()",
                &adele,
                json!("adelev@contoso.onmicrosoft.com"),
            ),
            (
                "lower(user.userName)",
                &adele,
                json!("adelev@contoso.onmicrosoft.com"),
            ),
            (
                "user.userName.upper()",
                &adele,
                json!("ADELEV@CONTOSO.ONMICROSOFT.COM"),
            ),
            ("lower('ÉLODIE')", &adele, json!("élodie")),
            ("upper('straße')", &adele, json!("STRASSE")),
            ("trim('  a b  ')", &adele, json!("a b")),
            ("strip_domain(user.userName)", &adele, json!("AdeleV")),
            (
                "email_domain(user.userName)",
                &adele,
                json!("contoso.onmicrosoft.com"),
            ),
            ("strip_domain('no-at-sign')", &adele, json!("no-at-sign")),
            ("email_domain('no-at-sign')", &adele, json!("")),
            (
                "guest_email(user.userName)",
                &jordan,
                json!("jordan@fabrikam.com"),
            ),
            (
                "guest_email('first_last_gmail.com#EXT#@t.onmicrosoft.com')",
                &adele,
                json!("first_last@gmail.com"),
            ),
            (
                "guest_email('a_b.com#ext#@t.onmicrosoft.com')",
                &adele,
                json!("a@b.com"),
            ),
            (
                "guest_email(user.userName)",
                &adele,
                json!("AdeleV@contoso.onmicrosoft.com"),
            ),
            ("primary_email(user)", &adele, json!("AdeleV@contoso.com")),
            ("work_email(user)", &adele, json!("AdeleV@contoso.com")),
            ("primary_email(user)", &jordan, json!("jordan@fabrikam.com")),
            ("work_email(user)", &jordan, json!("")),
            ("ext(user, 'department')", &adele, json!("Retail")),
            ("ext(user, 'Department')", &adele, json!("Retail")),
            ("ext(user, 'costCenter')", &adele, json!("")),
            (
                "ext(user, 'manager').value",
                &adele,
                json!("26118915-6090-4610-87a4-49d0767e9b43"),
            ),
            ("ext(user, 'department')", &jordan, json!("")),
            (
                "ext(user, 'urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User', 'costCenterCode')",
                &adele,
                json!("CC-17"),
            ),
            (
                "user['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'].department",
                &adele,
                json!("Retail"),
            ),
            (
                "user[?'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'].?department.orValue('none')",
                &jordan,
                json!("none"),
            ),
            ("attr(user, 'name.givenName')", &adele, json!("Adele")),
            ("attr(user, 'NAME.GIVENNAME')", &adele, json!("Adele")),
            ("attr(user, 'name.middleName')", &adele, json!("")),
            ("attr(user, 'aéé')", &adele, json!("")),
            ("attr(user, 'urn:nope:x')", &adele, json!("")),
            (
                "attr(user, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department')",
                &adele,
                json!("Retail"),
            ),
            (
                "attr(user, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value')",
                &adele,
                json!("26118915-6090-4610-87a4-49d0767e9b43"),
            ),
            (
                "attr(user, 'urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:level') + 1",
                &adele,
                json!(8),
            ),
            (
                "coalesce(user.nickName, user.displayName)",
                &adele,
                json!("Adele Vance"),
            ),
            (
                "coalesce(user.displayName, user.name.givenName)",
                &jordan,
                json!("Jordan"),
            ),
            ("coalesce(user.nickName, user.x.y.z)", &jordan, json!("")),
            ("coalesce(user.active, true)", &adele, json!(true)),
            ("coalesce(user.missing, false)", &adele, json!(false)),
            ("coalesce('  ', [], {}, null, 'x')", &adele, json!("x")),
            (
                "coalesce(user['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'].department, 'none')",
                &jordan,
                json!("none"),
            ),
            (
                "coalesce(lower(user.userName))",
                &jordan,
                json!("jordan_fabrikam.com#ext#@contoso.onmicrosoft.com"),
            ),
            (
                "concat(user.name.givenName, '-', user.name.familyName)",
                &jordan,
                json!("Jordan-"),
            ),
            ("concat('n', 1, true)", &adele, json!("n1true")),
            (
                "join(' ', user.name.givenName, user.name.familyName)",
                &adele,
                json!("Adele Vance"),
            ),
            (
                "join(' ', user.name.givenName, user.name.familyName)",
                &jordan,
                json!("Jordan"),
            ),
            ("join(', ')", &adele, json!("")),
            (
                "regex_replace(user.userName, '^([^@]+)@.*$', '$1')",
                &adele,
                json!("AdeleV"),
            ),
            (
                "regex_replace('a.b.c', '\\\\.', '-')",
                &adele,
                json!("a-b-c"),
            ),
            (
                "regex_replace('Vance, Adele', '(?P<last>\\\\w+), (?P<first>\\\\w+)', '${first} ${last}')",
                &adele,
                json!("Adele Vance"),
            ),
            (
                "regex_extract(user.userName, '@(.+)$')",
                &adele,
                json!("contoso.onmicrosoft.com"),
            ),
            ("regex_extract('abc', 'x')", &adele, json!("")),
            ("regex_extract('abc', 'b.')", &adele, json!("bc")),
            ("user.userName.matches('^Adele')", &adele, json!(true)),
            (
                "matches(user.userName, 'contoso\\\\.com$')",
                &adele,
                json!(false),
            ),
            (
                "user.emails.filter(e, e.type == 'work')[0].value",
                &adele,
                json!("AdeleV@contoso.com"),
            ),
            (
                "user.emails.exists(e, has(e.primary) && e.primary)",
                &adele,
                json!(true),
            ),
            (
                "has(user.title) ? user.title : 'none'",
                &jordan,
                json!("none"),
            ),
            (
                "user.name.givenName + ' ' + user.name.familyName",
                &adele,
                json!("Adele Vance"),
            ),
            ("['a', 'b'].join('+')", &adele, json!("a+b")),
            ("optional.of(1).orValue(2)", &adele, json!(1)),
            ("size(user.emails)", &adele, json!(2)),
        ];
        for (source, user, want) in cases {
            assert_eq!(eval_on(source, user).as_ref(), Ok(want), "{source}");
        }
    }

    #[test]
    fn missing_attributes_are_reported_as_missing() {
        let jordan = guest_user();
        assert_eq!(
            eval_on("user.title", &jordan),
            Err(EvalError::Missing("'title'".into()))
        );
        assert_eq!(
            eval_on("user.emails[3].value", &jordan),
            Err(EvalError::Missing("(list index out of range)".into()))
        );
        let Err(EvalError::Failed(message)) = eval_on("user.userName + 1", &jordan) else {
            panic!("a type error is a failure");
        };
        assert!(message.contains("add"), "{message}");
        let Err(EvalError::Failed(message)) =
            eval_on("regex_replace('a', user.userName + '(', '')", &jordan)
        else {
            panic!("a regex built from data fails at run time");
        };
        assert!(message.contains("regex_replace"), "{message}");
        let Err(EvalError::Failed(message)) = eval_on("lower(user.emails)", &jordan) else {
            panic!("a list is not a string");
        };
        assert!(message.contains("expects a string, got list"), "{message}");
    }

    #[test]
    fn group_expressions_bind_group() {
        let Value::Object(group) = json!({"displayName": "Sales EU", "externalId": "e-1"}) else {
            unreachable!()
        };
        let expr = Expression::compile(
            "lower(regex_replace(group.displayName, '\\\\s+', '-'))",
            Subject::Group,
        )
        .unwrap();
        assert_eq!(expr.evaluate_json("g1", &group), Ok(json!("sales-eu")));
        let errors = Expression::compile("user.userName", Subject::Group).unwrap_err();
        assert_eq!(
            errors[0].message,
            "unknown variable 'user' (the SCIM group is `group`)"
        );
        assert_eq!(
            errors[0].position,
            Some(Position {
                line: 1,
                column: 1,
                offset: 0
            })
        );
    }

    #[test]
    fn compile_errors_carry_positions() {
        let cases: &[(&str, &str, (u32, u32, u32))] = &[
            ("user.userName +", "mismatched input '<EOF>'", (1, 16, 15)),
            ("user.\n  name(", "mismatched input '<EOF>'", (2, 8, 13)),
            ("lowr(user.userName)", "unknown function 'lowr'", (1, 5, 4)),
            ("user.userName.lowr()", "unknown method 'lowr'", (1, 19, 18)),
            (
                "usr.userName",
                "unknown variable 'usr' (the SCIM user is `user`)",
                (1, 1, 0),
            ),
            ("'é' + nope", "unknown variable 'nope'", (1, 7, 7)),
            (
                "regex_replace(user.userName, '([a-z', '')",
                "invalid regular expression",
                (1, 14, 13),
            ),
            (
                "user.userName.matches('(')",
                "invalid regular expression",
                (1, 22, 21),
            ),
            ("foo.bar(1)", "unknown function 'foo.bar'", (1, 8, 7)),
        ];
        for (source, message, (line, column, offset)) in cases {
            let errors = Expression::compile(source, Subject::User).unwrap_err();
            assert!(
                errors[0].message.starts_with(message),
                "{source}: {errors:?}"
            );
            assert_eq!(
                errors[0].position,
                Some(Position {
                    line: *line,
                    column: *column,
                    offset: *offset
                }),
                "{source}: {errors:?}"
            );
        }
        let long = format!("'{}'", "a".repeat(MAX_EXPRESSION_LEN));
        let errors = Expression::compile(&long, Subject::User).unwrap_err();
        assert!(errors[0].message.contains("at most 2048"), "{errors:?}");
        assert_eq!(
            Expression::compile("  ", Subject::User).unwrap_err()[0].message,
            "the expression is empty"
        );
        let nested = "[[[1]]].all(a, a.all(b, b.all(c, c > 0)))";
        let errors = Expression::compile(nested, Subject::User).unwrap_err();
        assert!(
            errors[0].message.contains("nest at most 2 deep"),
            "{errors:?}"
        );
        let many = (0..9)
            .map(|_| "[1].exists(x, x > 0)")
            .collect::<Vec<_>>()
            .join(" && ");
        let errors = Expression::compile(&many, Subject::User).unwrap_err();
        assert!(errors[0].message.contains("at most 8"), "{errors:?}");
        for deep in [
            format!("{}1{}", "(".repeat(200), ")".repeat(200)),
            format!("{}'a'{}", "lower(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH)),
            format!("1{}", " + 1".repeat(MAX_DEPTH)),
        ] {
            let errors = Expression::compile(&deep, Subject::User).unwrap_err();
            assert!(
                errors[0].message.contains("deep") || errors[0].message.contains("recursion"),
                "{errors:?}"
            );
        }
        // Parentheses make no tree nodes: deep ones only cost the parser, which has its own
        // thread and stack.
        let parens = format!("{}1{}", "(".repeat(90), ")".repeat(90));
        assert!(Expression::compile(&parens, Subject::User).is_ok());
        // What is accepted evaluates on a small (debug-build) stack.
        let calls = format!(
            "{}'a'{}",
            "lower(".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        let sums = format!("1{}", " + 1".repeat(MAX_DEPTH - 1));
        let coalesced = format!(
            "{}coalesce(user.a.b.c){}",
            "lower(".repeat(MAX_DEPTH - 7),
            ")".repeat(MAX_DEPTH - 7)
        );
        for source in [calls, sums, coalesced] {
            let expr = Expression::compile(&source, Subject::User).unwrap();
            std::thread::Builder::new()
                .stack_size(1024 * 1024)
                .spawn(move || expr.evaluate_json("u", &Map::new()).unwrap())
                .unwrap()
                .join()
                .unwrap();
        }
    }

    #[test]
    fn every_listed_function_exists() {
        // A listed name that the environment does not declare would pass the compile check and
        // then fail for every user: catch it here.
        let user = entra_user();
        for source in [
            "size('a') + int('1') + int(uint(1)) + int(double(1)) == 4",
            "string(1) + string(bool('true')) == '1true'",
            "type(dyn(1)) == int && bytes('a') == b'a'",
            "optional.none().orValue(1) == optional.ofNonZeroValue(1).value()",
            "optional.of(1).hasValue() && optional.none().or(optional.of(2)).value() == 2",
            "strings.quote('a') == '\"a\"'",
            "'abc'.contains('b') && 'abc'.startsWith('a') && 'abc'.endsWith('c')",
            "'abc'.charAt(1) == 'b' && 'abc'.indexOf('c') == 2 && 'abca'.lastIndexOf('a') == 3",
            "'aB'.lowerAscii() + 'aB'.upperAscii() + ' x '.trim() == 'abABx'",
            "'a-b'.replace('-', '+') == 'a+b' && 'a,b'.split(',') == ['a', 'b']",
            "'abc'.substring(1) == 'bc' && 'abc'.reverse() == 'cba' && size([1]) == 1",
            "'aB'.lower() + 'aB'.upper() == 'abAB'",
            "lower('A') + upper('a') + trim(' a ') == 'aAa'",
        ] {
            assert_eq!(eval_on(source, &user), Ok(json!(true)), "{source}");
        }
    }

    #[test]
    fn guest_upns() {
        for (upn, email) in [
            ("a_b.com#EXT#@t.onmicrosoft.com", "a@b.com"),
            (
                "john.smith_outlook.com#EXT#@contoso.onmicrosoft.com",
                "john.smith@outlook.com",
            ),
            (
                "first_last_gmail.com#EXT#@t.onmicrosoft.com",
                "first_last@gmail.com",
            ),
            ("adele@contoso.com", "adele@contoso.com"),
            (
                "nounderscore#EXT#@t.onmicrosoft.com",
                "nounderscore#EXT#@t.onmicrosoft.com",
            ),
            ("_b.com#EXT#@t", "_b.com#EXT#@t"),
        ] {
            assert_eq!(guest_upn_to_email(upn), email, "{upn}");
        }
    }

    #[test]
    fn positions() {
        let text = "ab\ncdé\nf";
        assert_eq!(
            Position::at_offset(text, 0),
            Position {
                line: 1,
                column: 1,
                offset: 0
            }
        );
        assert_eq!(
            Position::at_offset(text, 3),
            Position {
                line: 2,
                column: 1,
                offset: 3
            }
        );
        assert_eq!(
            Position::at_offset(text, 8),
            Position {
                line: 3,
                column: 1,
                offset: 8
            }
        );
        assert_eq!(
            Position::at_offset(text, 7),
            Position {
                line: 2,
                column: 4,
                offset: 7
            }
        );
        assert_eq!(
            Position::at_offset(text, 6),
            Position {
                line: 2,
                column: 3,
                offset: 5
            }
        );
        assert_eq!(
            Position::at_offset(text, 99),
            Position {
                line: 3,
                column: 2,
                offset: 9
            }
        );
        assert_eq!(
            Position::at_line_column(text, 3, 1),
            Position {
                line: 3,
                column: 1,
                offset: 8
            }
        );
        assert_eq!(
            Position::at_line_column(text, 2, 4),
            Position {
                line: 2,
                column: 4,
                offset: 7
            }
        );
    }
}
