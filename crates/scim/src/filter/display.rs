//! [`Filter`] → text that parses back to the same tree.
//!
//! Operators are written lowercase and parentheses only where the tree needs them: `and`
//! binds tighter than `or`, and both associate to the left, so a right operand of the same
//! operator (`a and (b and c)`) or an `or` under an `and` keeps its parentheses. `not` always
//! carries its own (RFC 7644 §3.4.2.2 has no other form).

use std::fmt;

use super::{CompValue, CompareOp, Filter};

/// Binding strength: a child weaker than its position requires is parenthesised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Or,
    And,
    Atom,
}

fn prec(filter: &Filter) -> Prec {
    match filter {
        Filter::Or(..) => Prec::Or,
        Filter::And(..) => Prec::And,
        Filter::Compare { .. } | Filter::Present(_) | Filter::ValuePath { .. } | Filter::Not(_) => {
            Prec::Atom
        }
    }
}

/// Writes `filter`, in parentheses if it binds more weakly than `min`.
fn write(f: &mut fmt::Formatter<'_>, filter: &Filter, min: Prec) -> fmt::Result {
    if prec(filter) < min {
        f.write_str("(")?;
        write(f, filter, Prec::Or)?;
        return f.write_str(")");
    }
    match filter {
        Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
        Filter::Present(path) => write!(f, "{path} pr"),
        Filter::ValuePath { path, filter } => {
            write!(f, "{path}[")?;
            write(f, filter, Prec::Or)?;
            f.write_str("]")
        }
        Filter::Not(inner) => {
            f.write_str("not (")?;
            write(f, inner, Prec::Or)?;
            f.write_str(")")
        }
        Filter::And(l, r) => {
            write(f, l, Prec::And)?;
            f.write_str(" and ")?;
            write(f, r, Prec::Atom)
        }
        Filter::Or(l, r) => {
            write(f, l, Prec::Or)?;
            f.write_str(" or ")?;
            write(f, r, Prec::And)
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(f, self, Prec::Or)
    }
}

impl CompareOp {
    /// The operator as written in a filter, lowercase.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            // serde_json escapes exactly what JSON requires, which is what the parser reads.
            Self::String(s) => match serde_json::to_string(s) {
                Ok(quoted) => f.write_str(&quoted),
                Err(_) => Err(fmt::Error),
            },
        }
    }
}
