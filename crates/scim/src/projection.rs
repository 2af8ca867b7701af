//! Which attributes a response carries: `attributes` / `excludedAttributes`
//! (RFC 7644 §3.4.2.5, §3.9) combined with each attribute's `returned` characteristic
//! (RFC 7643 §2.4, §7).
//!
//! | `returned` | no parameter | `attributes=…` | `excludedAttributes=…` |
//! |---|---|---|---|
//! | `always` (`id`) | kept | kept | kept, even if excluded |
//! | `never` (`password`) | removed | removed, even if named | removed |
//! | `default` (most) | kept | kept if it, a sub-attribute of it, or its extension is named | kept unless it or its extension is named |
//! | `request` | removed | kept if named | removed |
//!
//! `schemas` is always kept. Naming a sub-attribute narrows a complex attribute to it
//! (`attributes=name.givenName` returns `name` with `givenName` only; on a multi-valued
//! attribute, each value keeps only it); excluding one removes just it. An extension's
//! attributes live inside the object keyed by its URN: they are named either URN-qualified
//! or short (`department`), the URN alone names the whole extension, and an extension object
//! left empty is removed. Keys are compared case-insensitively (RFC 7643 §2.1); keys the
//! schema does not know are treated as `returned: default`. Output keeps the keys and values
//! exactly as stored.
//!
//! When a request gives both parameters, `attributes` wins and `excludedAttributes` is
//! ignored (after being checked for syntax): RFC 7644 defines no combination, `attributes`
//! already says exactly what to return, and a client sending both is best served by the
//! narrower, explicit list rather than a 400.

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::path::AttrPath;
use crate::schema::{AttributeDef, Owner, ResourceSchema, Returned};

/// The `attributes` and `excludedAttributes` of a request.
///
/// The default (both empty) returns every attribute whose `returned` is `always` or
/// `default`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// The attributes to return (plus those returned `always`). Empty: not given.
    pub attributes: Vec<AttrPath>,
    /// The attributes not to return (except those returned `always`). Empty: not given.
    /// Always empty when `attributes` is not.
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// Parses the two parameters: comma-separated attribute paths, each trimmed, short or
    /// URN-qualified. Empty entries are skipped. A malformed path is `400 invalidValue`,
    /// naming the parameter and the path. See the module docs for when both are given.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        let attributes = parse_list("attributes", attributes)?;
        let excluded = parse_list("excludedAttributes", excluded)?;
        let excluded = if attributes.is_empty() {
            excluded
        } else {
            Vec::new()
        };
        Ok(Self {
            attributes,
            excluded,
        })
    }

    /// Whether neither parameter was given.
    #[must_use]
    pub fn is_default(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// The resource as it should be returned. A value that is not a JSON object is returned
    /// unchanged.
    #[must_use]
    pub fn apply(&self, resource: &Value, schema: &ResourceSchema) -> Value {
        let Some(obj) = resource.as_object() else {
            return resource.clone();
        };
        let plan = Plan::new(self, schema);
        let mut out = Map::new();
        for (key, value) in obj {
            if key.eq_ignore_ascii_case("schemas") {
                out.insert(key.clone(), value.clone());
                continue;
            }
            if let (Some(ext), Value::Object(inner)) = (schema.extension(key), value) {
                let mut kept = Map::new();
                for (name, v) in inner {
                    let keep = plan.decide(Some(&ext.id), name, ext.attribute(name));
                    if let Some(v) = project(v, ext.attribute(name), &keep) {
                        kept.insert(name.clone(), v);
                    }
                }
                if !kept.is_empty() {
                    out.insert(key.clone(), Value::Object(kept));
                }
                continue;
            }
            let def = definition(schema, None, key);
            let keep = plan.decide(None, key, def);
            if let Some(v) = project(value, def, &keep) {
                out.insert(key.clone(), v);
            }
        }
        Value::Object(out)
    }

    /// Whether the attribute at `path` would appear, at least in part, in a projected
    /// resource that has it. A server uses this to skip loading what will not be returned
    /// (a group's `members` under Entra's `excludedAttributes=members`).
    #[must_use]
    pub fn includes(&self, path: &AttrPath, schema: &ResourceSchema) -> bool {
        let plan = Plan::new(self, schema);
        match locate(path, schema) {
            Target::Container(urn) => schema.extension(&urn).is_some_and(|ext| {
                ext.attributes
                    .iter()
                    .any(|a| plan.decide(Some(&ext.id), &a.name, Some(a)) != Keep::No)
            }),
            Target::Attr {
                container,
                name,
                sub,
            } => {
                let def = definition(schema, container.as_deref(), &name);
                let keep = plan.decide(container.as_deref(), &name, def);
                match (&keep, sub) {
                    (Keep::No, _) => false,
                    (_, None) => true,
                    (_, Some(sub)) => {
                        let sub_def = def.and_then(|d| d.sub_attribute(&sub));
                        keep.sub(&sub, sub_def)
                    }
                }
            }
        }
    }
}

fn parse_list(param: &str, list: Option<&str>) -> Result<Vec<AttrPath>, ScimError> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| AttrPath::parse(s).map_err(|e| ScimError::invalid_value(format!("{param}: {e}"))))
        .collect()
}

/// What a path designates in a resource's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A whole extension object, by its URN.
    Container(String),
    /// An attribute: top level (`container: None`) or inside the extension object keyed by
    /// `container`; whole, or one sub-attribute.
    Attr {
        container: Option<String>,
        name: String,
        sub: Option<String>,
    },
}

impl Target {
    /// Whether this target names the attribute `name` in `container`: `Some(None)` as a
    /// whole, `Some(Some(sub))` one of its sub-attributes, `None` not at all.
    fn names(&self, container: Option<&str>, name: &str) -> Option<Option<&str>> {
        match self {
            Self::Container(urn) => container
                .is_some_and(|c| c.eq_ignore_ascii_case(urn))
                .then_some(None),
            Self::Attr {
                container: c,
                name: n,
                sub,
            } => {
                let same_container = match (c.as_deref(), container) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    _ => false,
                };
                (same_container && n.eq_ignore_ascii_case(name)).then_some(sub.as_deref())
            }
        }
    }
}

/// Resolves a requested path to what it designates. Paths the schema does not know still
/// designate the JSON key they spell, so unknown attributes can be selected too.
fn locate(path: &AttrPath, schema: &ResourceSchema) -> Target {
    // `urn:…:enterprise:2.0:User` parses as URN `urn:…:enterprise:2.0` + name `User`.
    if path.sub.is_none()
        && let Some(urn) = &path.urn
        && let Some(ext) = schema.extension(&format!("{urn}:{}", path.name))
    {
        return Target::Container(ext.id.clone());
    }
    if let Some(r) = schema.resolve(path) {
        return Target::Attr {
            container: match r.owner {
                Owner::Extension(s) => Some(s.id.clone()),
                Owner::Common | Owner::Core(_) => None,
            },
            name: r.attr.name.clone(),
            sub: r.sub.map(|s| s.name.clone()),
        };
    }
    let (container, name) = match &path.urn {
        None => (None, path.name.clone()),
        // `urn:…:core:2.0:User:id`: common attributes are in no schema, but clients qualify
        // them with the core URN anyway.
        Some(urn) if urn.eq_ignore_ascii_case(&schema.core.id) => (None, path.name.clone()),
        Some(urn) => match schema.extension(urn) {
            Some(ext) => (Some(ext.id.clone()), path.name.clone()),
            // An extension the schema does not declare: its object is an unknown top-level
            // attribute keyed by the full URN.
            None => (None, format!("{urn}:{}", path.name)),
        },
    };
    Target::Attr {
        container,
        name,
        sub: path.sub.clone(),
    }
}

/// The definition of the attribute `name` at top level or in the extension `container`.
fn definition<'a>(
    schema: &'a ResourceSchema,
    container: Option<&str>,
    name: &str,
) -> Option<&'a AttributeDef> {
    match container {
        Some(urn) => schema.extension(urn)?.attribute(name),
        None => schema
            .common()
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .or_else(|| schema.core.attribute(name)),
    }
}

fn returned(def: Option<&AttributeDef>) -> Returned {
    def.map_or(Returned::Default, |d| d.returned)
}

/// What to keep of one attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Keep<'a> {
    /// Nothing.
    No,
    /// The value, minus sub-attributes returned `never` or `request`.
    All,
    /// Only these sub-attributes (and any returned `always`).
    Only(Vec<&'a str>),
    /// All sub-attributes but these (and those returned `never` or `request`).
    Except(Vec<&'a str>),
}

impl Keep<'_> {
    /// Whether the sub-attribute `name` is kept.
    fn sub(&self, name: &str, def: Option<&AttributeDef>) -> bool {
        let named = |list: &[&str]| list.iter().any(|s| s.eq_ignore_ascii_case(name));
        match (returned(def), self) {
            (_, Keep::No) | (Returned::Never, _) => false,
            (Returned::Always, _) => true,
            (Returned::Request, Keep::Only(list)) => named(list),
            (Returned::Request, _) => false,
            (Returned::Default, Keep::All) => true,
            (Returned::Default, Keep::Only(list)) => named(list),
            (Returned::Default, Keep::Except(list)) => !named(list),
        }
    }
}

/// The request's paths, resolved once per resource type.
struct Plan {
    /// `attributes`, when given.
    attributes: Option<Vec<Target>>,
    excluded: Vec<Target>,
}

impl Plan {
    fn new(projection: &Projection, schema: &ResourceSchema) -> Self {
        let resolve = |paths: &[AttrPath]| paths.iter().map(|p| locate(p, schema)).collect();
        Self {
            attributes: (!projection.attributes.is_empty())
                .then(|| resolve(&projection.attributes)),
            excluded: resolve(&projection.excluded),
        }
    }

    /// What to keep of the attribute `name` (top level or in the extension `container`).
    fn decide(&self, container: Option<&str>, name: &str, def: Option<&AttributeDef>) -> Keep<'_> {
        match returned(def) {
            Returned::Never => return Keep::No,
            Returned::Always => return Keep::All,
            Returned::Default | Returned::Request => {}
        }
        let mut subs = Vec::new();
        if let Some(attributes) = &self.attributes {
            for target in attributes {
                match target.names(container, name) {
                    Some(None) => return Keep::All,
                    Some(Some(sub)) => subs.push(sub),
                    None => {}
                }
            }
            return if subs.is_empty() {
                Keep::No
            } else {
                Keep::Only(subs)
            };
        }
        if returned(def) == Returned::Request {
            return Keep::No;
        }
        for target in &self.excluded {
            match target.names(container, name) {
                Some(None) => return Keep::No,
                Some(Some(sub)) => subs.push(sub),
                None => {}
            }
        }
        if subs.is_empty() {
            Keep::All
        } else {
            Keep::Except(subs)
        }
    }
}

/// Projects one attribute's value; `None` when nothing of it is left.
fn project(value: &Value, def: Option<&AttributeDef>, keep: &Keep<'_>) -> Option<Value> {
    match keep {
        Keep::No => None,
        // Nothing to filter below an attribute the schema does not describe.
        Keep::All if def.is_none_or(|d| d.sub_attributes.is_empty()) => Some(value.clone()),
        _ => match value {
            Value::Object(obj) => project_object(obj, def, keep).map(Value::Object),
            Value::Array(items) => {
                let kept: Vec<Value> = items
                    .iter()
                    .filter_map(|item| match item {
                        Value::Object(obj) => project_object(obj, def, keep).map(Value::Object),
                        // A simple value has no sub-attribute to select.
                        other => (!matches!(keep, Keep::Only(_))).then(|| other.clone()),
                    })
                    .collect();
                (items.is_empty() || !kept.is_empty()).then_some(Value::Array(kept))
            }
            other => (!matches!(keep, Keep::Only(_))).then(|| other.clone()),
        },
    }
}

/// Projects the sub-attributes of one complex value; `None` when it was emptied.
fn project_object(
    obj: &Map<String, Value>,
    def: Option<&AttributeDef>,
    keep: &Keep<'_>,
) -> Option<Map<String, Value>> {
    let kept: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| keep.sub(k, def.and_then(|d| d.sub_attribute(k))))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (obj.is_empty() || !kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn p(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        Projection::parse(attributes, excluded).unwrap()
    }

    fn bjensen() -> Value {
        json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                ENTERPRISE
            ],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "bjensen",
            "userName": "bjensen@example.com",
            "name": {"familyName": "Jensen", "givenName": "Barbara", "middleName": "Jane"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "password": "t1meMa$heen",
            "active": true,
            ENTERPRISE: {
                "employeeNumber": "701984",
                "department": "Tour Operations",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            },
            "meta": {"resourceType": "User", "location": "https://example.com/v2/Users/2819c223"}
        })
    }

    fn project_user(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        p(attributes, excluded).apply(&bjensen(), &ResourceSchema::user())
    }

    #[test]
    fn parse_trims_and_accepts_urns() {
        let proj = p(
            Some(" userName , name.givenName,,urn:ietf:params:scim:schemas:core:2.0:User:emails"),
            None,
        );
        assert_eq!(proj.attributes.len(), 3);
        assert_eq!(proj.attributes[1], AttrPath::sub_attr("name", "givenName"));
        assert_eq!(
            proj.attributes[2].urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:core:2.0:User")
        );
        assert!(p(None, Some("")).is_default());
    }

    #[test]
    fn parse_rejects_malformed_paths() {
        let e = Projection::parse(Some("userName,emails[type eq \"work\"]"), None).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)));
        assert!(e.detail.starts_with("attributes:"), "{}", e.detail);
        let e = Projection::parse(None, Some("a b")).unwrap_err();
        assert!(e.detail.starts_with("excludedAttributes:"), "{}", e.detail);
    }

    #[test]
    fn attributes_wins_over_excluded_attributes() {
        let proj = p(Some("userName"), Some("userName"));
        assert!(proj.excluded.is_empty());
        assert_eq!(
            proj.apply(&bjensen(), &ResourceSchema::user())["userName"],
            "bjensen@example.com"
        );
        // …but a malformed excludedAttributes is still an error.
        assert!(Projection::parse(Some("userName"), Some("a b")).is_err());
    }

    #[test]
    fn default_returns_everything_but_password() {
        let mut expected = bjensen();
        expected.as_object_mut().unwrap().remove("password");
        assert_eq!(project_user(None, None), expected);
    }

    #[test]
    fn attributes_keeps_always_returned_id_and_schemas() {
        assert_eq!(
            project_user(Some("userName"), None),
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "id": "2819c223-7f76-453a-919d-413861904646",
                "userName": "bjensen@example.com"
            })
        );
        // Entra's legacy reference check.
        let only_id = project_user(Some("id"), None);
        assert_eq!(only_id.as_object().unwrap().len(), 2);
    }

    #[test]
    fn password_is_never_returned_even_when_asked_for() {
        assert!(
            project_user(Some("password,userName"), None)
                .get("password")
                .is_none()
        );
        assert!(project_user(None, None).get("password").is_none());
        assert!(
            !p(Some("password"), None)
                .includes(&AttrPath::attr("password"), &ResourceSchema::user())
        );
    }

    #[test]
    fn always_returned_attributes_cannot_be_excluded() {
        let out = project_user(None, Some("id,userName"));
        assert_eq!(out["id"], "2819c223-7f76-453a-919d-413861904646");
        assert!(out.get("userName").is_none());
    }

    #[test]
    fn naming_a_sub_attribute_narrows_its_parent() {
        let out = project_user(Some("name.givenName"), None);
        assert_eq!(out["name"], json!({"givenName": "Barbara"}));
        // Case-insensitive, on names and keys.
        let out = project_user(Some("NAME.GIVENNAME"), None);
        assert_eq!(out["name"], json!({"givenName": "Barbara"}));
    }

    #[test]
    fn naming_a_multi_valued_attribute_keeps_every_sub_attribute() {
        let out = project_user(Some("emails"), None);
        assert_eq!(out["emails"], bjensen()["emails"]);
        let out = project_user(Some("emails.value"), None);
        assert_eq!(
            out["emails"],
            json!([{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}])
        );
    }

    #[test]
    fn parent_and_sub_attribute_both_named_keeps_the_parent_whole() {
        let out = project_user(Some("name.givenName,name"), None);
        assert_eq!(out["name"], bjensen()["name"]);
    }

    #[test]
    fn excluding_a_sub_attribute_drops_just_it() {
        let out = project_user(None, Some("name.givenName,emails.primary"));
        assert_eq!(
            out["name"],
            json!({"familyName": "Jensen", "middleName": "Jane"})
        );
        assert_eq!(
            out["emails"],
            json!([
                {"value": "bjensen@example.com", "type": "work"},
                {"value": "babs@jensen.org", "type": "home"}
            ])
        );
        assert_eq!(out["userName"], "bjensen@example.com");
    }

    #[test]
    fn a_complex_value_emptied_by_exclusion_is_removed() {
        let user = json!({"id": "1", "name": {"givenName": "Barbara"}});
        let out = p(None, Some("name.givenName")).apply(&user, &ResourceSchema::user());
        assert_eq!(out, json!({"id": "1"}));
    }

    #[test]
    fn extension_attributes_by_short_or_qualified_name() {
        let out = project_user(Some("department"), None);
        assert_eq!(out[ENTERPRISE], json!({"department": "Tour Operations"}));

        let out = project_user(Some(&format!("{ENTERPRISE}:manager.value")), None);
        assert_eq!(
            out[ENTERPRISE],
            json!({"manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}})
        );

        let out = project_user(Some(ENTERPRISE), None);
        assert_eq!(out[ENTERPRISE], bjensen()[ENTERPRISE]);
    }

    #[test]
    fn extension_excluded_or_emptied_is_removed() {
        let out = project_user(None, Some(ENTERPRISE));
        assert!(out.get(ENTERPRISE).is_none());
        let out = project_user(None, Some("employeeNumber,department,manager"));
        assert!(out.get(ENTERPRISE).is_none());
        let out = project_user(Some("userName"), None);
        assert!(out.get(ENTERPRISE).is_none());
        let out = project_user(None, Some("department"));
        assert_eq!(
            out[ENTERPRISE]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["employeeNumber", "manager"]
        );
    }

    #[test]
    fn core_urn_qualified_names_work() {
        let out = project_user(
            Some(
                "urn:ietf:params:scim:schemas:core:2.0:User:userName,urn:ietf:params:scim:schemas:core:2.0:User:externalId",
            ),
            None,
        );
        assert_eq!(out["userName"], "bjensen@example.com");
        assert_eq!(out["externalId"], "bjensen");
    }

    #[test]
    fn unknown_attributes_are_default() {
        let user =
            json!({"id": "1", "userName": "a", "shoeSize": 44, "urn:example:custom": {"x": 1}});
        let schema = ResourceSchema::user();
        assert_eq!(p(None, None).apply(&user, &schema), user);
        assert_eq!(
            p(None, Some("shoeSize")).apply(&user, &schema),
            json!({"id": "1", "userName": "a", "urn:example:custom": {"x": 1}})
        );
        assert_eq!(
            p(Some("SHOESIZE,urn:example:custom"), None).apply(&user, &schema),
            json!({"id": "1", "shoeSize": 44, "urn:example:custom": {"x": 1}})
        );
    }

    #[test]
    fn group_without_members() {
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "e9e30dba",
            "displayName": "Tour Guides",
            "members": [{"value": "2819c223", "display": "Babs Jensen"}],
            "meta": {"resourceType": "Group"}
        });
        let schema = ResourceSchema::group();
        let proj = p(None, Some("members"));
        assert_eq!(
            proj.apply(&group, &schema),
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "id": "e9e30dba",
                "displayName": "Tour Guides",
                "meta": {"resourceType": "Group"}
            })
        );
        assert!(!proj.includes(&AttrPath::attr("members"), &schema));
        assert!(!proj.includes(&AttrPath::attr("MEMBERS"), &schema));
        assert!(!proj.includes(&AttrPath::sub_attr("members", "value"), &schema));
        assert!(proj.includes(&AttrPath::attr("displayName"), &schema));
        assert!(proj.includes(&AttrPath::attr("id"), &schema));
    }

    #[test]
    fn includes_follows_apply() {
        let user = ResourceSchema::user();
        let path = |s: &str| AttrPath::parse(s).unwrap();

        let proj = p(Some("name.givenName"), None);
        assert!(proj.includes(&path("name"), &user));
        assert!(proj.includes(&path("name.givenName"), &user));
        assert!(!proj.includes(&path("name.familyName"), &user));
        assert!(!proj.includes(&path("emails"), &user));
        assert!(proj.includes(&path("id"), &user));
        assert!(!proj.includes(&path(ENTERPRISE), &user));

        let proj = p(None, Some("name.givenName"));
        assert!(proj.includes(&path("name"), &user));
        assert!(!proj.includes(&path("name.givenName"), &user));
        assert!(proj.includes(&path("manager"), &user));
        assert!(proj.includes(&path(ENTERPRISE), &user));

        let proj = p(Some("manager"), None);
        assert!(proj.includes(&path(&format!("{ENTERPRISE}:manager")), &user));
        assert!(proj.includes(&path(ENTERPRISE), &user));
        assert!(!proj.includes(&path("department"), &user));

        let proj = p(None, Some(ENTERPRISE));
        assert!(!proj.includes(&path("department"), &user));
        assert!(!proj.includes(&path(ENTERPRISE), &user));
    }

    #[test]
    fn request_attributes_only_when_named() {
        let schema = ResourceSchema::group().with_extension(
            crate::schema::Schema {
                id: "urn:example:secret".into(),
                name: "Secret".into(),
                description: String::new(),
                attributes: vec![AttributeDef::string("hint").returned(Returned::Request)],
            },
            false,
        );
        let group = json!({"id": "g", "displayName": "G", "urn:example:secret": {"hint": "h"}});
        assert_eq!(
            p(None, None).apply(&group, &schema),
            json!({"id": "g", "displayName": "G"})
        );
        assert_eq!(
            p(Some("hint"), None).apply(&group, &schema),
            json!({"id": "g", "urn:example:secret": {"hint": "h"}})
        );
        assert!(!p(None, None).includes(&AttrPath::attr("hint"), &schema));
        assert!(p(Some("hint"), None).includes(&AttrPath::attr("hint"), &schema));
    }
}
