//! SCIM filters (RFC 7644 §3.4.2.2) and `sortBy` (§3.4.2.3) compiled to SQLite SQL.
//!
//! [`where_clause`] turns a [`Filter`] into a boolean SQL expression over a resource row `r`
//! with bound parameters (values are never formatted into the SQL), with the semantics of
//! `Filter::matches` (`scim::filter::eval`), so that the store answers exactly what the
//! evaluator would over every resource — but using indexes:
//!
//! | attribute | compiled to |
//! |---|---|
//! | `id`, `externalId` | the `id` / `external_id` columns (case-exact, indexed) |
//! | `userName`, `displayName` | the `_lc` columns, lowercased by Rust like the evaluator (indexed) |
//! | `emails`, `emails.value`, `emails.type`, `emails[…]` over `value`/`type` | the `scim_user_emails` side table (indexed on `value_lc`) |
//! | `members…` (groups), `groups…` (users) | the membership rows |
//! | `meta.created`, `meta.lastModified` | the millisecond columns; `meta.version`, `meta.resourceType` from the row |
//! | anything else in the schema | `json_extract` / `json_each` / `json_tree` over the JSON body |
//!
//! Every compiled expression is two-valued (0 or 1, never NULL), so `not (…)` is exactly the
//! evaluator's negation and `ne` is exactly `not (eq)`: an absent attribute matches `ne`.
//! `and`/`or` chains are emitted as balanced trees, because SQLite caps expression depth at
//! 1000 and a long flat chain (`a or b or c …`) would otherwise fail at run time.
//!
//! Where SQL and the evaluator differ (documented, and acceptable):
//!
//! - `co`/`sw`/`ew` on a case-insensitive attribute without an `_lc` column (`name.givenName`,
//!   `title`, `members.display`, …) lowercase the stored value with SQLite's `lower()`, which
//!   folds ASCII only; `eq` and the ordering operators use the `scim_ci` collation, which folds
//!   like Rust's `to_lowercase`, and so agree with the evaluator for all of Unicode.
//! - Bodies are assumed to be schema-conformant, as `scim::dialect::normalize_resource` and the
//!   PATCH engine leave them: attribute keys spelled as the schema spells them, multi-valued
//!   attributes as arrays, strings where the schema says string. The evaluator also tolerates
//!   non-conformant shapes (a number in a string attribute compares by its JSON text); SQL
//!   then does not match.
//! - A `meta.created`/`meta.lastModified` comparison whose literal is not an RFC 3339
//!   dateTime is refused (`Unsupported`, 400 `invalidFilter`) where the evaluator would fall
//!   back to comparing text.
//! - Refused as well (never silently empty): integer, decimal and non-`meta` dateTime
//!   attributes (the User and Group schemas have none), `meta.location` and `$ref` (they
//!   depend on the base URL the store does not know), paths the schema does not define, and
//!   shapes `Filter::validate` rejects (value filters on non-complex attributes, nested value
//!   filters, sub-attributes of sub-attributes).

use std::sync::LazyLock;

use roster_core::StoreError;
use roster_core::store::ResourceKind;
use scim::filter::{CompValue, CompareOp, Filter};
use scim::path::AttrPath;
use scim::schema::{AttributeDef, AttributeType, Owner, ResourceSchema};
use sqlx::{QueryBuilder, Sqlite};

/// The collation registered on every connection: text compared after Rust's Unicode
/// `to_lowercase`, the evaluator's case folding.
pub(crate) const CI_COLLATION: &str = "scim_ci";

/// The order of [`CI_COLLATION`].
pub(crate) fn ci_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.to_lowercase().cmp(&b.to_lowercase())
}

/// A piece of SQL and its bound values, in order. Built once, written into as many queries
/// as need it (a page and its count).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sql {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Static(&'static str),
    Owned(String),
    BindText(String),
    BindInt(i64),
}

impl Sql {
    /// Appends SQL text (never a value).
    pub(crate) fn push(&mut self, sql: &'static str) {
        self.parts.push(Part::Static(sql));
    }

    /// Appends SQL text made at run time from names the store chose (aliases), never values.
    fn push_owned(&mut self, sql: String) {
        self.parts.push(Part::Owned(sql));
    }

    /// Appends a bound text value.
    pub(crate) fn bind_text(&mut self, value: impl Into<String>) {
        self.parts.push(Part::BindText(value.into()));
    }

    /// Appends a bound integer.
    pub(crate) fn bind_int(&mut self, value: i64) {
        self.parts.push(Part::BindInt(value));
    }

    /// Appends another fragment.
    pub(crate) fn append(&mut self, other: &Sql) {
        self.parts.extend(other.parts.iter().cloned());
    }

    /// The SQL text with `?` for each value, and the values in order: how the point reads
    /// (`point`), which do not go through sqlx, take a fragment.
    pub(crate) fn text_and_values(&self) -> (String, Vec<Bound<'_>>) {
        let mut text = String::new();
        let mut values = Vec::new();
        for part in &self.parts {
            match part {
                Part::Static(s) => text.push_str(s),
                Part::Owned(s) => text.push_str(s),
                Part::BindText(s) => {
                    text.push('?');
                    values.push(Bound::Text(s));
                }
                Part::BindInt(i) => {
                    text.push('?');
                    values.push(Bound::Int(*i));
                }
            }
        }
        (text, values)
    }

    /// Writes the fragment into a query.
    pub(crate) fn write_to(&self, qb: &mut QueryBuilder<Sqlite>) {
        for part in &self.parts {
            match part {
                Part::Static(s) => {
                    qb.push(s);
                }
                Part::Owned(s) => {
                    qb.push(s);
                }
                Part::BindText(s) => {
                    qb.push_bind(s.clone());
                }
                Part::BindInt(i) => {
                    qb.push_bind(*i);
                }
            }
        }
    }

    /// The SQL text with `?` for each value (for tests and logs).
    #[cfg(test)]
    pub(crate) fn text(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Static(s) => s,
                Part::Owned(s) => s.as_str(),
                Part::BindText(_) | Part::BindInt(_) => "?",
            })
            .collect()
    }
}

/// A value bound in a [`Sql`] fragment.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound<'a> {
    Text(&'a str),
    Int(i64),
}

/// Whether `filter` can match at most one resource of `kind`, found through a unique index:
/// an `eq` on `id`, on a user's `userName` or on a group's `displayName` (the unique
/// columns), or an `and` with such a side. Such a query reads one index entry and one row,
/// whatever the number of resources: IdPs look users up this way before every write.
pub(crate) fn is_point_lookup(filter: &Filter, kind: ResourceKind) -> bool {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(_),
        } => kind.schema().resolve(path).is_some_and(|r| {
            r.sub.is_none()
                && match (r.owner, r.attr.name.as_str()) {
                    (Owner::Common, "id") => true,
                    (Owner::Core(_), "userName") => kind == ResourceKind::User,
                    (Owner::Core(_), "displayName") => kind == ResourceKind::Group,
                    _ => false,
                }
        }),
        Filter::And(a, b) => is_point_lookup(a, kind) || is_point_lookup(b, kind),
        _ => false,
    }
}

fn unsupported(detail: impl Into<String>) -> StoreError {
    StoreError::Unsupported(detail.into())
}

/// Compiles `filter` for resources of `kind` in `connector_id` into a boolean expression over
/// the row alias `r`.
pub(crate) fn where_clause(
    filter: &Filter,
    kind: ResourceKind,
    connector_id: &str,
) -> Result<Sql, StoreError> {
    let mut c = Compiler::new(kind, connector_id);
    c.filter(filter, &Scope::Resource)?;
    Ok(c.sql)
}

/// The `ORDER BY` list for `sortBy` (without the keyword): the key (missing values last in
/// both directions), then the creation sequence, so ties and the default order are stable.
pub(crate) fn order_by(
    sort_by: Option<&AttrPath>,
    descending: bool,
    kind: ResourceKind,
) -> Result<Sql, StoreError> {
    let mut c = Compiler::new(kind, "");
    let dir = if descending { " DESC" } else { "" };
    let key = match sort_by {
        Some(path) => c.sort_key(path)?,
        None => None,
    };
    let mut sql = Sql::default();
    if let Some(key) = key {
        if key.nullable {
            sql.push("(");
            sql.append(&key.sql);
            sql.push(") IS NULL, ");
        }
        sql.append(&key.sql);
        if key.collate {
            sql.push(" COLLATE scim_ci");
        }
        sql.push(if descending { " DESC, " } else { ", " });
        sql.push("r.seq");
        sql.push(dir);
    } else {
        // `sortOrder` only orders a `sortBy` (RFC 7644 §3.4.2.3): without one, creation order.
        sql.push("r.seq");
    }
    Ok(sql)
}

/// How a text value is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// Stored lowercased by Rust: compare with the lowercased literal, byte for byte.
    Lowered,
    /// Case-exact.
    Exact,
    /// Case-insensitive in SQL: the `scim_ci` collation, or `lower()` for substrings.
    Insensitive,
}

/// A JSON path into `r.body`: either absolute (`$."emails"`) or relative to the element a
/// `json_each` alias stands on (`alias.fullkey || '."value"'`).
#[derive(Debug, Clone)]
struct JsonPath {
    alias: Option<String>,
    suffix: String,
}

impl JsonPath {
    fn root() -> Self {
        Self {
            alias: None,
            suffix: "$".to_owned(),
        }
    }

    fn element(alias: String) -> Self {
        Self {
            alias: Some(alias),
            suffix: String::new(),
        }
    }

    /// The member `key`; keys are always quoted, as URNs contain `:` and `.`.
    fn child(&self, key: &str) -> Result<Self, StoreError> {
        if key.contains('"') {
            return Err(unsupported(format!(
                "cannot address the key {key:?} in SQL"
            )));
        }
        Ok(Self {
            alias: self.alias.clone(),
            suffix: format!("{}.\"{key}\"", self.suffix),
        })
    }

    fn index(&self, i: usize) -> Self {
        Self {
            alias: self.alias.clone(),
            suffix: format!("{}[{i}]", self.suffix),
        }
    }
}

/// One scalar value to compare.
#[derive(Debug, Clone)]
enum Scalar {
    /// A text column or SQL expression, NULL when absent.
    Text { expr: &'static str, case: Case },
    /// A text known when compiling.
    Const {
        text: &'static str,
        case_exact: bool,
    },
    /// A value in the JSON body, typed by its definition.
    Json {
        at: JsonPath,
        def: &'static AttributeDef,
    },
    /// `meta.created` / `meta.lastModified`: a column of unix milliseconds.
    Millis {
        column: &'static str,
        text: &'static str,
    },
}

/// Where the rows behind a multi-valued attribute live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    /// A user's `emails`: `scim_user_emails` (value and type only).
    Emails,
    /// A group's `members`: its membership rows.
    Members,
    /// A user's `groups`: the membership rows naming it, with the groups' names.
    Groups,
}

impl Rows {
    /// The start of `r.… IN (SELECT … WHERE connector = ? AND `: the connector id follows.
    fn head(self) -> &'static str {
        match self {
            Self::Emails => {
                "r.seq IN (SELECT e.user_seq FROM scim_user_emails AS e WHERE e.connector_id = "
            }
            Self::Members => {
                "r.id IN (SELECT m.group_id FROM scim_memberships AS m WHERE m.connector_id = "
            }
            Self::Groups => {
                "r.id IN (SELECT m.member_id FROM scim_memberships AS m JOIN scim_groups AS g \
                 ON g.connector_id = m.connector_id AND g.id = m.group_id WHERE m.connector_id = "
            }
        }
    }

    fn scope(self) -> &'static str {
        match self {
            Self::Emails | Self::Members => " AND ",
            Self::Groups => " AND m.member_type = 'User' AND ",
        }
    }

    /// The column a sub-attribute of an element is read from, if the rows have it.
    fn column(self, sub: &str) -> Option<Scalar> {
        let is = |name: &str| sub.eq_ignore_ascii_case(name);
        let text = |expr, case| Some(Scalar::Text { expr, case });
        match self {
            Self::Emails if is("value") => text("e.value_lc", Case::Lowered),
            Self::Emails if is("type") => text("e.type_lc", Case::Lowered),
            // `members.value` is case-exact; `display` and `type` are not (RFC 7643 §8.7.1).
            Self::Members if is("value") => text("m.member_id", Case::Exact),
            Self::Members if is("display") => text("m.display", Case::Insensitive),
            Self::Members if is("type") => text("m.member_type", Case::Insensitive),
            // A user's `groups.value` is not case-exact in the schema, so neither is this.
            Self::Groups if is("value") => text("m.group_id", Case::Insensitive),
            Self::Groups if is("display") => text("g.display_name_lc", Case::Lowered),
            Self::Groups if is("type") => Some(Scalar::Const {
                text: "direct",
                case_exact: false,
            }),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Emails => "emails",
            Self::Members => "members",
            Self::Groups => "groups",
        }
    }

    /// Whether every path of a value filter is a column of these rows.
    fn covers(self, filter: &Filter) -> bool {
        let leaf =
            |p: &AttrPath| p.urn.is_none() && p.sub.is_none() && self.column(&p.name).is_some();
        let mut stack = vec![filter];
        while let Some(f) = stack.pop() {
            match f {
                Filter::Compare { path, .. } | Filter::Present(path) => {
                    if !leaf(path) {
                        return false;
                    }
                }
                Filter::ValuePath { .. } => return false,
                Filter::Not(inner) => stack.push(inner),
                Filter::And(a, b) | Filter::Or(a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
            }
        }
        true
    }
}

/// What a filter path names.
#[derive(Debug, Clone)]
enum Target {
    /// One scalar (a column, a constant, an element's sub-attribute).
    Scalar(Scalar),
    /// `meta` or one of its sub-attributes.
    Meta(Option<&'static AttributeDef>),
    /// Rows behind a multi-valued attribute; `sub` as the path names it.
    Rows {
        rows: Rows,
        sub: Option<&'static str>,
    },
    /// An attribute in the JSON body.
    Json {
        path: JsonPath,
        attr: &'static AttributeDef,
        sub: Option<&'static AttributeDef>,
    },
    /// `schemas`: in the body, or the core schema alone when the body has none.
    Schemas,
}

/// What paths are relative to.
#[derive(Debug, Clone)]
enum Scope {
    /// The resource.
    Resource,
    /// One element of a multi-valued attribute, held in rows.
    RowElement(Rows),
    /// One element (an object) of a complex attribute in the body.
    JsonElement {
        base: JsonPath,
        parent: &'static AttributeDef,
    },
}

/// `schemas` is in every resource but in no schema (as in the evaluator).
static SCHEMAS: LazyLock<AttributeDef> = LazyLock::new(|| AttributeDef::string("schemas").multi());

const VERSION_TEXT: &str = "('W/\"' || r.version || '\"')";
const CREATED_TEXT: &str = "(strftime('%Y-%m-%dT%H:%M:%S', r.created_ms / 1000, 'unixepoch') || printf('.%03dZ', r.created_ms % 1000))";
const MODIFIED_TEXT: &str = "(strftime('%Y-%m-%dT%H:%M:%S', r.modified_ms / 1000, 'unixepoch') || printf('.%03dZ', r.modified_ms % 1000))";

struct SortKey {
    sql: Sql,
    nullable: bool,
    collate: bool,
}

struct Compiler<'c> {
    kind: ResourceKind,
    schema: &'static ResourceSchema,
    connector_id: &'c str,
    sql: Sql,
    aliases: usize,
}

/// The operands of an `and` (or `or`) chain, left to right, without recursion (chains are
/// as long as the input allows).
fn flatten(filter: &Filter, and: bool) -> Vec<&Filter> {
    let mut out = Vec::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match (f, and) {
            (Filter::And(a, b), true) | (Filter::Or(a, b), false) => {
                stack.push(b);
                stack.push(a);
            }
            _ => out.push(f),
        }
    }
    out
}

/// The literal as text, as the evaluator reads it for a string comparison.
fn literal_text(value: &CompValue) -> String {
    match value {
        CompValue::String(s) => s.clone(),
        CompValue::Number(n) => n.to_string(),
        CompValue::Bool(b) => b.to_string(),
        CompValue::Null => String::new(),
    }
}

/// The literal as a boolean, as the evaluator reads it (`"True"` included, for Entra ID).
fn literal_bool(value: &CompValue) -> Option<bool> {
    match value {
        CompValue::Bool(b) => Some(*b),
        CompValue::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        CompValue::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The evaluator's text comparison, for values known when compiling.
fn text_matches(actual: &str, op: CompareOp, literal: &str, case_exact: bool) -> bool {
    let (a, b) = if case_exact {
        (actual.to_owned(), literal.to_owned())
    } else {
        (actual.to_lowercase(), literal.to_lowercase())
    };
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
    }
}

/// The SQL operator of an ordering comparison; `None` for the substring operators.
fn ordering_sql(op: CompareOp) -> Option<&'static str> {
    match op {
        CompareOp::Eq => Some(" = "),
        CompareOp::Ne => Some(" <> "),
        CompareOp::Gt => Some(" > "),
        CompareOp::Ge => Some(" >= "),
        CompareOp::Lt => Some(" < "),
        CompareOp::Le => Some(" <= "),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => None,
    }
}

impl<'c> Compiler<'c> {
    fn new(kind: ResourceKind, connector_id: &'c str) -> Self {
        Self {
            kind,
            schema: kind.schema(),
            connector_id,
            sql: Sql::default(),
            aliases: 0,
        }
    }

    fn push(&mut self, s: &'static str) {
        self.sql.push(s);
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("j{}", self.aliases)
    }

    fn push_path(&mut self, path: &JsonPath) {
        match &path.alias {
            Some(a) if path.suffix.is_empty() => self.sql.push_owned(format!("{a}.fullkey")),
            Some(a) => {
                self.sql.push_owned(format!("({a}.fullkey || "));
                self.sql.bind_text(path.suffix.clone());
                self.push(")");
            }
            None => self.sql.bind_text(path.suffix.clone()),
        }
    }

    // ---- the tree ----

    fn filter(&mut self, f: &Filter, scope: &Scope) -> Result<(), StoreError> {
        match f {
            Filter::Not(inner) => {
                self.push("NOT (");
                self.filter(inner, scope)?;
                self.push(")");
            }
            Filter::And(..) => self.chain(&flatten(f, true), " AND ", scope)?,
            Filter::Or(..) => self.chain(&flatten(f, false), " OR ", scope)?,
            Filter::Present(path) => {
                let target = self.target(path, scope)?;
                self.present(&target)?;
            }
            Filter::Compare { path, op, value } => {
                let target = self.target(path, scope)?;
                match (value, op) {
                    // RFC 7643 §2.5: `eq null` is "unassigned", `ne null` "assigned".
                    (CompValue::Null, CompareOp::Eq) => {
                        self.push("NOT (");
                        self.present(&target)?;
                        self.push(")");
                    }
                    (CompValue::Null, CompareOp::Ne) => self.present(&target)?,
                    (CompValue::Null, _) => self.push("0"),
                    // `ne` is `not (eq)`: a resource without the attribute matches.
                    (_, CompareOp::Ne) => {
                        self.push("NOT (");
                        self.compare(&target, CompareOp::Eq, value)?;
                        self.push(")");
                    }
                    _ => self.compare(&target, *op, value)?,
                }
            }
            Filter::ValuePath { path, filter } => {
                if !matches!(scope, Scope::Resource) {
                    return Err(unsupported(format!(
                        "value filter on '{path}' inside another value filter"
                    )));
                }
                self.value_path(path, filter)?;
            }
        }
        Ok(())
    }

    /// An `and`/`or` chain as a balanced tree, so SQLite's expression depth stays logarithmic.
    fn chain(
        &mut self,
        items: &[&Filter],
        sep: &'static str,
        scope: &Scope,
    ) -> Result<(), StoreError> {
        if let [one] = items {
            return self.filter(one, scope);
        }
        let (left, right) = items.split_at(items.len() / 2);
        self.push("(");
        self.chain(left, sep, scope)?;
        self.push(sep);
        self.chain(right, sep, scope)?;
        self.push(")");
        Ok(())
    }

    // ---- paths ----

    fn target(&self, path: &AttrPath, scope: &Scope) -> Result<Target, StoreError> {
        match scope {
            Scope::Resource => self.resource_target(path),
            Scope::RowElement(rows) => {
                if path.urn.is_some() || path.sub.is_some() {
                    return Err(unsupported(format!(
                        "'{path}' inside a value filter on '{}'",
                        rows.name()
                    )));
                }
                rows.column(&path.name).map(Target::Scalar).ok_or_else(|| {
                    unsupported(format!(
                        "'{}[{}…]' cannot be filtered on here",
                        rows.name(),
                        path.name
                    ))
                })
            }
            Scope::JsonElement { base, parent } => {
                if path.urn.is_some() || path.sub.is_some() {
                    return Err(unsupported(format!(
                        "'{path}' inside a value filter on '{}'",
                        parent.name
                    )));
                }
                let def = parent.sub_attribute(&path.name).ok_or_else(|| {
                    unsupported(format!(
                        "'{}' has no sub-attribute '{}'",
                        parent.name, path.name
                    ))
                })?;
                Ok(Target::Json {
                    path: base.child(&def.name)?,
                    attr: def,
                    sub: None,
                })
            }
        }
    }

    fn resource_target(&self, path: &AttrPath) -> Result<Target, StoreError> {
        let Some(r) = self.schema.resolve(path) else {
            if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("schemas")
            {
                return Ok(Target::Schemas);
            }
            return Err(unsupported(format!(
                "'{path}' is not an attribute of {}",
                self.schema.name
            )));
        };
        let sub = r.sub.map(|s| s.name.as_str());
        let user = self.kind == ResourceKind::User;
        let column = |expr, case| Ok(Target::Scalar(Scalar::Text { expr, case }));
        match (r.owner, r.attr.name.as_str()) {
            (Owner::Common, "id") => column("r.id", Case::Exact),
            (Owner::Common, "externalId") => column("r.external_id", Case::Exact),
            (Owner::Common, "meta") => Ok(Target::Meta(r.sub)),
            (Owner::Core(_), "userName") if user => column("r.user_name_lc", Case::Lowered),
            (Owner::Core(_), "displayName") => column("r.display_name_lc", Case::Lowered),
            (Owner::Core(_), "emails") if user && matches!(sub, None | Some("value" | "type")) => {
                Ok(Target::Rows {
                    rows: Rows::Emails,
                    sub,
                })
            }
            (Owner::Core(_), "groups") if user => Ok(Target::Rows {
                rows: Rows::Groups,
                sub,
            }),
            (Owner::Core(_), "members") if !user => Ok(Target::Rows {
                rows: Rows::Members,
                sub,
            }),
            _ => self.json_target(path),
        }
    }

    /// The attribute as it sits in the JSON body.
    fn json_target(&self, path: &AttrPath) -> Result<Target, StoreError> {
        let r = self.schema.resolve(path).ok_or_else(|| {
            unsupported(format!(
                "'{path}' is not an attribute of {}",
                self.schema.name
            ))
        })?;
        let base = match r.owner {
            Owner::Extension(s) => JsonPath::root().child(&s.id)?,
            Owner::Common | Owner::Core(_) => JsonPath::root(),
        };
        Ok(Target::Json {
            path: base.child(&r.attr.name)?,
            attr: r.attr,
            sub: r.sub,
        })
    }

    // ---- presence: RFC 7643 §2.5 (null, "", [] and {} are unassigned) ----

    fn present(&mut self, target: &Target) -> Result<(), StoreError> {
        match target {
            Target::Scalar(s) => self.present_scalar(s),
            // Every rendered resource has a full `meta`.
            Target::Meta(_) => self.push("1"),
            // An email element without any assigned member (`{}`, `{"value": ""}`) does not
            // make `emails` present: ask the body.
            Target::Rows {
                rows: Rows::Emails,
                sub: None,
            } => {
                let emails = self.json_target(&AttrPath::attr("emails"))?;
                self.present(&emails)?;
            }
            // Every member and group row has a non-empty value: a row is presence.
            Target::Rows { rows, sub } => {
                let column = match sub {
                    Some(sub) => Some(rows.column(sub).ok_or_else(|| {
                        unsupported(format!("'{}.{sub}' cannot be filtered on", rows.name()))
                    })?),
                    None => None,
                };
                self.rows(*rows, |c| match &column {
                    Some(col) => c.present_scalar(col),
                    None => c.push("1"),
                });
            }
            Target::Json { path, attr, sub } => match sub {
                None => self.present_tree(path),
                Some(sub) => {
                    let sub = sub.name.as_str();
                    self.any_element(path, attr.multi_valued, &mut |c, el| {
                        c.present_tree(&el.child(sub)?);
                        Ok(())
                    })?;
                }
            },
            Target::Schemas => {
                let path = JsonPath::root().child("schemas")?;
                self.push("(json_type(r.body, ");
                self.push_path(&path);
                self.push(") IS NULL OR ");
                self.present_tree(&path);
                self.push(")");
            }
        }
        Ok(())
    }

    fn present_scalar(&mut self, s: &Scalar) {
        match s {
            Scalar::Text { expr, .. } => {
                self.push("(");
                self.push(expr);
                self.push(" IS NOT NULL AND ");
                self.push(expr);
                self.push(" <> '')");
            }
            Scalar::Const { text, .. } => self.push(if text.is_empty() { "0" } else { "1" }),
            Scalar::Millis { .. } => self.push("1"),
            Scalar::Json { at, .. } => self.present_tree(at),
        }
    }

    /// Whether the JSON value at `at` holds any assigned scalar: `is_present` of the evaluator,
    /// recursively through arrays and objects.
    fn present_tree(&mut self, at: &JsonPath) {
        let t = self.alias();
        self.push("EXISTS (SELECT 1 FROM json_tree(r.body, ");
        self.push_path(at);
        self.sql.push_owned(format!(
            ") AS {t} WHERE {t}.type IN ('true', 'false', 'integer', 'real') \
             OR ({t}.type = 'text' AND {t}.atom <> ''))"
        ));
    }

    /// `r.… IN (SELECT … FROM rows WHERE connector AND <inner>)`.
    fn rows(&mut self, rows: Rows, inner: impl FnOnce(&mut Self)) {
        self.push(rows.head());
        self.sql.bind_text(self.connector_id);
        self.push(rows.scope());
        self.push("(");
        inner(self);
        self.push("))");
    }

    /// Each element of a JSON value: every item of an array (multi-valued), or the value.
    fn any_element(
        &mut self,
        path: &JsonPath,
        multi_valued: bool,
        f: &mut dyn FnMut(&mut Self, JsonPath) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if !multi_valued {
            return f(self, path.clone());
        }
        let e = self.alias();
        self.push("EXISTS (SELECT 1 FROM json_each(r.body, ");
        self.push_path(path);
        self.sql.push_owned(format!(") AS {e} WHERE "));
        f(self, JsonPath::element(e))?;
        self.push(")");
        Ok(())
    }

    // ---- comparisons (never `ne`, never null: `filter` rewrote those) ----

    fn compare(
        &mut self,
        target: &Target,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<(), StoreError> {
        match target {
            Target::Scalar(s) => self.compare_scalar(s, op, value),
            Target::Meta(sub) => {
                let scalar = match sub.map(|d| d.name.as_str()) {
                    Some("created") => Scalar::Millis {
                        column: "r.created_ms",
                        text: CREATED_TEXT,
                    },
                    Some("lastModified") => Scalar::Millis {
                        column: "r.modified_ms",
                        text: MODIFIED_TEXT,
                    },
                    Some("version") => Scalar::Text {
                        expr: VERSION_TEXT,
                        case: Case::Exact,
                    },
                    Some("resourceType") => Scalar::Const {
                        text: self.kind.as_str(),
                        case_exact: true,
                    },
                    Some(other) => {
                        return Err(unsupported(format!(
                            "cannot filter on meta.{other}: it depends on the server's base URL"
                        )));
                    }
                    None => return Err(unsupported("compare a sub-attribute of meta, not meta")),
                };
                self.compare_scalar(&scalar, op, value)
            }
            Target::Rows { rows, sub } => {
                // Without a sub-attribute, a complex attribute compares its `value`.
                let sub = sub.unwrap_or("value");
                let column = rows.column(sub).ok_or_else(|| {
                    unsupported(format!("'{}.{sub}' cannot be filtered on", rows.name()))
                })?;
                let mut result = Ok(());
                self.rows(*rows, |c| result = c.compare_scalar(&column, op, value));
                result
            }
            Target::Json { path, attr, sub } => {
                let (attr, sub): (&'static AttributeDef, _) = (attr, *sub);
                let leaf = match sub {
                    Some(s) => Some(s),
                    None if attr.ty == AttributeType::Complex => {
                        Some(attr.sub_attribute("value").ok_or_else(|| {
                            unsupported(format!(
                                "'{}' has no 'value' to compare; name a sub-attribute",
                                attr.name
                            ))
                        })?)
                    }
                    None => None,
                };
                match leaf {
                    Some(leaf) => self.any_element(path, attr.multi_valued, &mut |c, el| {
                        let at = el.child(&leaf.name)?;
                        c.any_element(&at, leaf.multi_valued, &mut |c, at| {
                            c.compare_scalar(&Scalar::Json { at, def: leaf }, op, value)
                        })
                    }),
                    None => self.any_element(path, attr.multi_valued, &mut |c, at| {
                        c.compare_scalar(&Scalar::Json { at, def: attr }, op, value)
                    }),
                }
            }
            Target::Schemas => {
                let default = text_matches(&self.schema.core.id, op, &literal_text(value), false);
                let path = JsonPath::root().child("schemas")?;
                self.push("(CASE WHEN json_type(r.body, ");
                self.push_path(&path);
                self.push(if default {
                    ") IS NULL THEN 1 ELSE "
                } else {
                    ") IS NULL THEN 0 ELSE "
                });
                self.any_element(&path, true, &mut |c, at| {
                    c.compare_scalar(&Scalar::Json { at, def: &SCHEMAS }, op, value)
                })?;
                self.push(" END)");
                Ok(())
            }
        }
    }

    fn compare_scalar(
        &mut self,
        s: &Scalar,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<(), StoreError> {
        match s {
            Scalar::Const { text, case_exact } => {
                let m = text_matches(text, op, &literal_text(value), *case_exact);
                self.push(if m { "1" } else { "0" });
            }
            Scalar::Text { expr, case } => {
                let expr: &'static str = expr;
                self.push("(");
                self.push(expr);
                self.push(" IS NOT NULL AND ");
                self.compare_text(&|c| c.push(expr), *case, op, &literal_text(value));
                self.push(")");
            }
            Scalar::Millis { column, text } => self.compare_millis(column, text, op, value)?,
            Scalar::Json { at, def } => match def.ty {
                AttributeType::String | AttributeType::Reference => {
                    let case = if def.case_exact {
                        Case::Exact
                    } else {
                        Case::Insensitive
                    };
                    self.json_text(at, |c| {
                        c.compare_text(&|c| c.json_extract(at), case, op, &literal_text(value));
                    });
                }
                // Binary values are only ever equal or not (RFC 7644 §3.4.2.2).
                AttributeType::Binary if op == CompareOp::Eq => {
                    self.json_text(at, |c| {
                        c.compare_text(
                            &|c| c.json_extract(at),
                            Case::Exact,
                            op,
                            &literal_text(value),
                        );
                    });
                }
                AttributeType::Binary => self.push("0"),
                // Booleans are only ever equal or not; like the evaluator, a "true"/"false"
                // string (any case) counts as a boolean on either side.
                AttributeType::Boolean => match (op, literal_bool(value)) {
                    (CompareOp::Eq, Some(b)) => {
                        let word = if b { "'true'" } else { "'false'" };
                        self.push("(json_type(r.body, ");
                        self.push_path(at);
                        self.push(") IS ");
                        self.push(word);
                        self.push(" OR (json_type(r.body, ");
                        self.push_path(at);
                        self.push(") IS 'text' AND lower(");
                        self.json_extract(at);
                        self.push(") = ");
                        self.push(word);
                        self.push("))");
                    }
                    _ => self.push("0"),
                },
                AttributeType::Integer | AttributeType::Decimal | AttributeType::DateTime => {
                    return Err(unsupported(format!(
                        "filtering on the {} attribute '{}' is not supported",
                        match def.ty {
                            AttributeType::Integer => "integer",
                            AttributeType::Decimal => "decimal",
                            _ => "dateTime",
                        },
                        def.name
                    )));
                }
                AttributeType::Complex => {
                    return Err(unsupported(format!(
                        "'{}' is complex; name a sub-attribute",
                        def.name
                    )));
                }
            },
        }
        Ok(())
    }

    fn json_extract(&mut self, at: &JsonPath) {
        self.push("json_extract(r.body, ");
        self.push_path(at);
        self.push(")");
    }

    /// `(json_type(r.body, at) IS 'text' AND <inner>)`: the guard keeps the result two-valued.
    fn json_text(&mut self, at: &JsonPath, inner: impl FnOnce(&mut Self)) {
        self.push("(json_type(r.body, ");
        self.push_path(at);
        self.push(") IS 'text' AND ");
        inner(self);
        self.push(")");
    }

    /// `expr op literal` for a non-NULL text `expr`, as the evaluator's `compare_text`.
    fn compare_text(&mut self, expr: &dyn Fn(&mut Self), case: Case, op: CompareOp, literal: &str) {
        if let Some(op_sql) = ordering_sql(op) {
            expr(self);
            self.push(op_sql);
            if case == Case::Lowered {
                self.sql.bind_text(literal.to_lowercase());
            } else {
                self.sql.bind_text(literal);
            }
            if case == Case::Insensitive {
                self.push(" COLLATE scim_ci");
            }
            return;
        }
        let literal = if case == Case::Exact {
            literal.to_owned()
        } else {
            literal.to_lowercase()
        };
        if literal.is_empty() {
            // Every string contains, starts and ends with "".
            self.push("1");
            return;
        }
        // SQLite's lower() folds ASCII only (see the module docs).
        let lowered = case == Case::Insensitive;
        let open = |c: &mut Self| {
            if lowered {
                c.push("lower(");
            }
            expr(c);
            if lowered {
                c.push(")");
            }
        };
        let chars = i64::try_from(literal.chars().count()).unwrap_or(i64::MAX);
        match op {
            CompareOp::Co => {
                self.push("instr(");
                open(self);
                self.push(", ");
                self.sql.bind_text(literal);
                self.push(") > 0");
            }
            CompareOp::Sw => {
                self.push("substr(");
                open(self);
                self.push(", 1, ");
                self.sql.bind_int(chars);
                self.push(") = ");
                self.sql.bind_text(literal);
            }
            _ => {
                self.push("substr(");
                open(self);
                self.push(", ");
                self.sql.bind_int(-chars);
                self.push(") = ");
                self.sql.bind_text(literal);
            }
        }
    }

    /// `meta.created` / `meta.lastModified`: instants compared as milliseconds; substrings
    /// against the rendered RFC 3339 text.
    fn compare_millis(
        &mut self,
        column: &'static str,
        text: &'static str,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<(), StoreError> {
        if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
            self.compare_text(
                &|c| c.push(text),
                Case::Insensitive,
                op,
                &literal_text(value),
            );
            return Ok(());
        }
        let literal = literal_text(value);
        let instant =
            time::OffsetDateTime::parse(&literal, &time::format_description::well_known::Rfc3339)
                .map_err(|_| unsupported(format!("'{literal}' is not a dateTime (RFC 3339)")))?;
        let nanos = instant.unix_timestamp_nanos();
        let ms = i64::try_from(nanos.div_euclid(1_000_000))
            .map_err(|_| unsupported(format!("'{literal}' is out of range")))?;
        // Stored times have whole milliseconds: against a literal with a finer fraction,
        // `m > 10.5` is `m > 10` and `m < 10.5` is `m <= 10`, and nothing is equal.
        let exact = nanos.rem_euclid(1_000_000) == 0;
        let op = match (op, exact) {
            (_, true) => op,
            (CompareOp::Eq, false) => {
                self.push("0");
                return Ok(());
            }
            (CompareOp::Gt | CompareOp::Ge, false) => CompareOp::Gt,
            (_, false) => CompareOp::Le,
        };
        if let Some(op_sql) = ordering_sql(op) {
            self.push(column);
            self.push(op_sql);
            self.sql.bind_int(ms);
        }
        Ok(())
    }

    // ---- value paths: `emails[type eq "work" and value co "@x"]` ----

    fn value_path(&mut self, path: &AttrPath, inner: &Filter) -> Result<(), StoreError> {
        if path.sub.is_some() {
            return Err(unsupported(format!(
                "value filter on '{path}', a sub-attribute; it goes on the attribute itself"
            )));
        }
        let target = match self.resource_target(path)? {
            Target::Rows { rows, sub: None } if rows.covers(inner) => {
                let mut result = Ok(());
                self.rows(rows, |c| result = c.filter(inner, &Scope::RowElement(rows)));
                return result;
            }
            // Emails are in the body too: other sub-attributes are read from there.
            Target::Rows {
                rows: Rows::Emails, ..
            } => self.json_target(path)?,
            Target::Rows { rows, .. } => {
                return Err(unsupported(format!(
                    "a value filter on '{}' can test value, display and type only",
                    rows.name()
                )));
            }
            other => other,
        };
        let Target::Json {
            path: at,
            attr,
            sub: None,
        } = target
        else {
            return Err(unsupported(format!(
                "value filter on '{path}', which is not a complex attribute"
            )));
        };
        if attr.ty != AttributeType::Complex {
            return Err(unsupported(format!(
                "value filter on '{}', which is not a complex attribute",
                attr.name
            )));
        }
        // Only objects are elements; a single-valued complex attribute is its own element.
        if attr.multi_valued {
            let e = self.alias();
            self.push("EXISTS (SELECT 1 FROM json_each(r.body, ");
            self.push_path(&at);
            self.sql
                .push_owned(format!(") AS {e} WHERE {e}.type = 'object' AND "));
            let scope = Scope::JsonElement {
                base: JsonPath::element(e),
                parent: attr,
            };
            self.filter(inner, &scope)?;
            self.push(")");
        } else {
            self.push("(json_type(r.body, ");
            self.push_path(&at);
            self.push(") IS 'object' AND ");
            let scope = Scope::JsonElement {
                base: at.clone(),
                parent: attr,
            };
            self.filter(inner, &scope)?;
            self.push(")");
        }
        Ok(())
    }

    // ---- sorting (RFC 7644 §3.4.2.3) ----

    fn sort_key(&mut self, path: &AttrPath) -> Result<Option<SortKey>, StoreError> {
        let key = |sql: &'static str, nullable| {
            let mut s = Sql::default();
            s.push(sql);
            Ok(Some(SortKey {
                sql: s,
                nullable,
                collate: false,
            }))
        };
        let target = self.resource_target(path)?;
        match target {
            Target::Scalar(Scalar::Text { expr, .. }) => key(expr, expr != "r.id"),
            Target::Meta(Some(d)) if d.name == "created" => key("r.created_ms", false),
            Target::Meta(Some(d)) if d.name == "lastModified" => key("r.modified_ms", false),
            Target::Meta(Some(d)) if d.name == "version" => key("r.version", false),
            // One resource type per query: every key is the same.
            Target::Meta(Some(d)) if d.name == "resourceType" => Ok(None),
            Target::Rows {
                rows: Rows::Emails, ..
            }
            | Target::Json { .. } => {
                let Target::Json {
                    path: at,
                    attr,
                    sub,
                } = self.json_target(path)?
                else {
                    return Err(unsupported(format!("cannot sort by '{path}'")));
                };
                self.json_sort_key(path, &at, attr, sub).map(Some)
            }
            _ => Err(unsupported(format!("cannot sort by '{path}'"))),
        }
    }

    fn json_sort_key(
        &mut self,
        path: &AttrPath,
        at: &JsonPath,
        attr: &'static AttributeDef,
        sub: Option<&'static AttributeDef>,
    ) -> Result<SortKey, StoreError> {
        let leaf = match (sub, attr.ty) {
            (Some(s), _) => s,
            (None, AttributeType::Complex) => attr.sub_attribute("value").ok_or_else(|| {
                unsupported(format!("cannot sort by '{path}': name a sub-attribute"))
            })?,
            (None, _) => attr,
        };
        let collate =
            matches!(leaf.ty, AttributeType::String | AttributeType::Reference) && !leaf.case_exact;
        let saved = std::mem::take(&mut self.sql);
        if attr.multi_valued && attr.ty == AttributeType::Complex {
            // A multi-valued attribute sorts by its primary value, else its first
            // (RFC 7644 §3.4.2.3).
            let e = self.alias();
            let value = JsonPath::element(e.clone()).child(&leaf.name)?;
            let primary = JsonPath::element(e.clone()).child("primary")?;
            let first = at.index(0).child(&leaf.name)?;
            self.push("COALESCE((SELECT json_extract(r.body, ");
            self.push_path(&value);
            self.push(") FROM json_each(r.body, ");
            self.push_path(at);
            self.sql
                .push_owned(format!(") AS {e} WHERE json_type(r.body, "));
            self.push_path(&primary);
            self.push(") IS 'true' LIMIT 1), ");
            self.json_extract(&first);
            self.push(")");
        } else if attr.multi_valued {
            self.sql = saved;
            return Err(unsupported(format!(
                "cannot sort by the multi-valued '{path}'"
            )));
        } else if std::ptr::eq(leaf, attr) {
            self.json_extract(at);
        } else {
            let leaf_at = at.child(&leaf.name)?;
            self.json_extract(&leaf_at);
        }
        let sql = std::mem::replace(&mut self.sql, saved);
        Ok(SortKey {
            sql,
            nullable: true,
            collate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(kind: ResourceKind, filter: &str) -> Result<String, StoreError> {
        let f = scim::filter::parse(filter).unwrap();
        where_clause(&f, kind, "c").map(|s| s.text())
    }

    fn depth(text: &str) -> usize {
        let mut d = 0usize;
        let mut max = 0;
        for ch in text.chars() {
            match ch {
                '(' => {
                    d += 1;
                    max = max.max(d);
                }
                ')' => d = d.saturating_sub(1),
                _ => {}
            }
        }
        max
    }

    #[test]
    fn the_hot_lookups_compare_indexed_columns_directly() {
        assert_eq!(
            sql(ResourceKind::User, "userName eq \"Bob\"").unwrap(),
            "(r.user_name_lc IS NOT NULL AND r.user_name_lc = ?)"
        );
        assert_eq!(
            sql(ResourceKind::Group, "externalId eq \"x\"").unwrap(),
            "(r.external_id IS NOT NULL AND r.external_id = ?)"
        );
    }

    #[test]
    fn long_chains_compile_to_shallow_trees() {
        // As long as the parser's 8192 bytes allow.
        let chain = vec!["id pr"; 900].join(" or ");
        let text = sql(ResourceKind::User, &chain).unwrap();
        assert!(depth(&text) < 20, "depth {}", depth(&text));
    }

    #[test]
    fn what_cannot_be_compiled_is_refused() {
        for (kind, filter) in [
            (ResourceKind::User, "meta.location eq \"x\""),
            (ResourceKind::User, "shoeSize eq 42"),
            (ResourceKind::User, "meta.created gt \"yesterday\""),
            (ResourceKind::Group, "members.$ref eq \"x\""),
            (ResourceKind::Group, "members[display co \"x\" and $ref pr]"),
            (ResourceKind::User, "userName[value eq \"x\"]"),
        ] {
            assert!(
                matches!(sql(kind, filter), Err(StoreError::Unsupported(_))),
                "{filter}"
            );
        }
    }

    #[test]
    fn sorting_breaks_ties_by_creation_order() {
        let path = AttrPath::parse("userName").unwrap();
        let order = order_by(Some(&path), true, ResourceKind::User).unwrap();
        assert_eq!(
            order.text(),
            "(r.user_name_lc) IS NULL, r.user_name_lc DESC, r.seq DESC"
        );
        let order = order_by(None, true, ResourceKind::User).unwrap();
        assert_eq!(order.text(), "r.seq");
        let members = AttrPath::parse("members").unwrap();
        assert!(order_by(Some(&members), false, ResourceKind::Group).is_err());
    }
}
