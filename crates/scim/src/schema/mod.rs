//! Schemas as data (RFC 7643 §2, §7).
//!
//! An [`AttributeDef`] carries everything RFC 7643 §7 says about an attribute: type,
//! `multiValued`, `caseExact`, `mutability`, `returned`, `uniqueness`, sub-attributes and
//! canonical values. The definitions drive filter evaluation (case and type), PATCH
//! (mutability, multi-valued merge, boolean coercion), projection (`returned`) and the
//! discovery documents, so they serialise to exactly the `/Schemas` representation.
//!
//! [`ResourceSchema`] joins a resource type's core schema with its extensions and resolves
//! attribute paths, case-insensitively, in both short (`manager`) and URN-qualified
//! (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`) form.

mod core;

use serde::{Deserialize, Serialize};

pub use self::core::{
    ENTERPRISE_USER, GROUP, USER, common_attributes, enterprise_user_schema, group_schema,
    user_schema,
};
use crate::path::AttrPath;

/// The URN of the schema that describes schemas (RFC 7643 §7).
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttributeType {
    /// A sequence of characters.
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An `xsd:dateTime` string (RFC 3339 profile).
    DateTime,
    /// Base64-encoded bytes.
    Binary,
    /// A URI to a resource.
    Reference,
    /// A composition of sub-attributes.
    Complex,
}

/// Whether and how an attribute may be modified (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    /// Set by the service provider only.
    ReadOnly,
    /// Updated and read by the client.
    ReadWrite,
    /// Set once, at creation or by the first write, never changed.
    Immutable,
    /// Written, never returned (passwords).
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    /// Always, whatever `attributes` / `excludedAttributes` say.
    Always,
    /// Never.
    Never,
    /// Unless excluded, or unless `attributes` lists others only.
    Default,
    /// Only when named in `attributes`.
    Request,
}

/// How unique an attribute's value is (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    /// No uniqueness.
    None,
    /// Unique within the service provider's current set of resources (here: one connector).
    Server,
    /// Globally unique.
    Global,
}

/// One attribute definition, serialised as in `/Schemas` (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    /// The attribute's name, as it should be spelled in output.
    pub name: String,
    /// The data type.
    #[serde(rename = "type")]
    pub ty: AttributeType,
    /// Whether the attribute holds an array of values.
    pub multi_valued: bool,
    /// What the attribute is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Whether a resource must carry it.
    pub required: bool,
    /// Whether string comparisons are case-sensitive.
    #[serde(default)]
    pub case_exact: bool,
    /// Who may write it.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// How unique its values are.
    pub uniqueness: Uniqueness,
    /// The values the service provider suggests (`type` of emails, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    /// For references: the resource types they may point to (`User`, `Group`, `external`, `uri`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    /// For complex attributes: their sub-attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, optional, read-write attribute of the given type, returned by default.
    pub fn new(name: impl Into<String>, ty: AttributeType) -> Self {
        Self {
            name: name.into(),
            ty,
            multi_valued: false,
            description: String::new(),
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }

    /// A string attribute.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, AttributeType::String)
    }

    /// A boolean attribute.
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::new(name, AttributeType::Boolean)
    }

    /// A dateTime attribute.
    pub fn date_time(name: impl Into<String>) -> Self {
        Self::new(name, AttributeType::DateTime)
    }

    /// A reference attribute to the given resource types. References are case-exact
    /// (RFC 7643 §2.3.7).
    pub fn reference(name: impl Into<String>, to: &[&str]) -> Self {
        let mut a = Self::new(name, AttributeType::Reference);
        a.case_exact = true;
        a.reference_types = to.iter().map(|s| (*s).to_owned()).collect();
        a
    }

    /// A complex attribute with the given sub-attributes.
    pub fn complex(name: impl Into<String>, sub_attributes: Vec<AttributeDef>) -> Self {
        let mut a = Self::new(name, AttributeType::Complex);
        a.sub_attributes = sub_attributes;
        a
    }

    /// Sets `description`.
    #[must_use]
    pub fn describe(mut self, description: &str) -> Self {
        self.description = description.to_owned();
        self
    }

    /// Sets `multiValued`.
    #[must_use]
    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    /// Sets `required`.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets `caseExact`.
    #[must_use]
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    /// Sets `mutability`.
    #[must_use]
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }

    /// Sets `returned`.
    #[must_use]
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }

    /// Sets `uniqueness`.
    #[must_use]
    pub fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }

    /// Sets `canonicalValues`.
    #[must_use]
    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// The sub-attribute with this name, compared case-insensitively (RFC 7643 §2.1).
    #[must_use]
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema: an id (URN), a name and its attributes (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// The schema's URN.
    pub id: String,
    /// Its human-readable name.
    #[serde(default)]
    pub name: String,
    /// What it describes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Its top-level attributes.
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    /// The top-level attribute with this name, compared case-insensitively.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The `/Schemas/{id}` representation, with `meta` (RFC 7643 §7).
    ///
    /// `location` is the absolute or base-relative URL of the `/Schemas/{id}` endpoint.
    #[must_use]
    pub fn to_resource(&self, location: &str) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            let mut out = serde_json::Map::new();
            out.insert("schemas".into(), serde_json::json!([SCHEMA_SCHEMA]));
            out.append(obj);
            out.insert(
                "meta".into(),
                serde_json::json!({"resourceType": "Schema", "location": location}),
            );
            return serde_json::Value::Object(out);
        }
        v
    }
}

/// A schema extension of a resource type (RFC 7643 §6).
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    /// The extension schema.
    pub schema: Schema,
    /// Whether every resource must carry it.
    pub required: bool,
}

/// What a resource of one type may contain: the common attributes (RFC 7643 §3.1), the core
/// schema, and the extensions. It resolves attribute paths.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSchema {
    /// The resource type's name (`User`, `Group`).
    pub name: String,
    /// The endpoint, relative to the base URL (`/Users`).
    pub endpoint: String,
    /// What the resource type is.
    pub description: String,
    /// The core schema.
    pub core: Schema,
    /// The extension schemas.
    pub extensions: Vec<Extension>,
    common: Vec<AttributeDef>,
}

/// Where a resolved attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// A common attribute (`id`, `externalId`, `meta`): top level, in no schema.
    Common,
    /// The core schema: top level of the resource.
    Core(&'a Schema),
    /// An extension: inside the object keyed by the extension's URN.
    Extension(&'a Schema),
}

impl<'a> Owner<'a> {
    /// The URN of the object the attribute lives in, for an extension attribute; `None` for
    /// attributes at the top level of the resource.
    #[must_use]
    pub fn extension_urn(&self) -> Option<&'a str> {
        match self {
            Self::Extension(s) => Some(s.id.as_str()),
            Self::Common | Self::Core(_) => None,
        }
    }
}

/// A path resolved against a [`ResourceSchema`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved<'a> {
    /// Where the attribute lives.
    pub owner: Owner<'a>,
    /// The top-level attribute.
    pub attr: &'a AttributeDef,
    /// The sub-attribute, when the path names one.
    pub sub: Option<&'a AttributeDef>,
}

impl Resolved<'_> {
    /// The definition the path ends at: the sub-attribute if there is one, else the attribute.
    #[must_use]
    pub fn leaf(&self) -> &AttributeDef {
        self.sub.unwrap_or(self.attr)
    }
}

impl ResourceSchema {
    /// A resource type with the common attributes of RFC 7643 §3.1.
    pub fn new(
        name: impl Into<String>,
        endpoint: impl Into<String>,
        description: impl Into<String>,
        core: Schema,
        extensions: Vec<Extension>,
    ) -> Self {
        Self {
            name: name.into(),
            endpoint: endpoint.into(),
            description: description.into(),
            core,
            extensions,
            common: common_attributes(),
        }
    }

    /// The `User` resource type with the enterprise extension (RFC 7643 §4.1, §4.3).
    #[must_use]
    pub fn user() -> Self {
        Self::new(
            "User",
            "/Users",
            "User Account",
            user_schema(),
            vec![Extension {
                schema: enterprise_user_schema(),
                required: false,
            }],
        )
    }

    /// The `Group` resource type (RFC 7643 §4.2).
    #[must_use]
    pub fn group() -> Self {
        Self::new("Group", "/Groups", "Group", group_schema(), Vec::new())
    }

    /// Adds a custom extension schema.
    #[must_use]
    pub fn with_extension(mut self, schema: Schema, required: bool) -> Self {
        self.extensions.push(Extension { schema, required });
        self
    }

    /// The common attributes (`id`, `externalId`, `meta`).
    #[must_use]
    pub fn common(&self) -> &[AttributeDef] {
        &self.common
    }

    /// Every schema URN of this type: core first, then extensions.
    pub fn schema_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.core.id.as_str())
            .chain(self.extensions.iter().map(|e| e.schema.id.as_str()))
    }

    /// The extension schema with this URN, compared case-insensitively.
    #[must_use]
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions
            .iter()
            .map(|e| &e.schema)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// The schema (core or extension) with this URN, compared case-insensitively.
    #[must_use]
    pub fn schema(&self, urn: &str) -> Option<&Schema> {
        if self.core.id.eq_ignore_ascii_case(urn) {
            Some(&self.core)
        } else {
            self.extension(urn)
        }
    }

    /// Resolves a path to its definitions, or `None` if the resource type has no such attribute.
    ///
    /// A path without a URN is looked up among the common attributes, then the core schema,
    /// then each extension (so `manager` finds the enterprise extension's `manager`).
    #[must_use]
    pub fn resolve(&self, path: &AttrPath) -> Option<Resolved<'_>> {
        let (owner, attr) = match path.urn.as_deref() {
            Some(urn) => {
                let schema = self.schema(urn)?;
                let owner = if std::ptr::eq(schema, &self.core) {
                    Owner::Core(schema)
                } else {
                    Owner::Extension(schema)
                };
                (owner, schema.attribute(&path.name)?)
            }
            None => {
                if let Some(a) = self
                    .common
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(&path.name))
                {
                    (Owner::Common, a)
                } else if let Some(a) = self.core.attribute(&path.name) {
                    (Owner::Core(&self.core), a)
                } else {
                    self.extensions.iter().find_map(|e| {
                        e.schema
                            .attribute(&path.name)
                            .map(|a| (Owner::Extension(&e.schema), a))
                    })?
                }
            }
        };
        let sub = match &path.sub {
            Some(s) => Some(attr.sub_attribute(s)?),
            None => None,
        };
        Some(Resolved { owner, attr, sub })
    }

    /// The `/ResourceTypes/{name}` representation (RFC 7643 §6).
    #[must_use]
    pub fn to_resource_type(&self, location: &str) -> serde_json::Value {
        let extensions: Vec<_> = self
            .extensions
            .iter()
            .map(|e| serde_json::json!({"schema": e.schema.id, "required": e.required}))
            .collect();
        let mut v = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.core.id,
        });
        if !extensions.is_empty() {
            v["schemaExtensions"] = serde_json::Value::Array(extensions);
        }
        v["meta"] = serde_json::json!({"resourceType": "ResourceType", "location": location});
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_short_urn_and_sub_paths_case_insensitively() {
        let user = ResourceSchema::user();
        let r = user.resolve(&AttrPath::parse("USERNAME").unwrap()).unwrap();
        assert_eq!(r.attr.name, "userName");
        assert!(matches!(r.owner, Owner::Core(_)));

        let r = user
            .resolve(&AttrPath::parse("name.GivenName").unwrap())
            .unwrap();
        assert_eq!(r.leaf().name, "givenName");

        let r = user.resolve(&AttrPath::parse("manager").unwrap()).unwrap();
        assert!(matches!(r.owner, Owner::Extension(s) if s.id == ENTERPRISE_USER));

        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        let r = user.resolve(&p).unwrap();
        assert_eq!(r.attr.name, "manager");
        assert_eq!(r.leaf().name, "value");

        let p = AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap();
        assert_eq!(user.resolve(&p).unwrap().attr.name, "userName");

        assert!(user.resolve(&AttrPath::parse("nope").unwrap()).is_none());
        assert!(
            user.resolve(&AttrPath::parse("name.nope").unwrap())
                .is_none()
        );
        assert_eq!(
            user.resolve(&AttrPath::parse("ID").unwrap()).unwrap().owner,
            Owner::Common
        );
    }

    #[test]
    fn schema_round_trips_through_its_json_form() {
        let s = user_schema();
        let json = serde_json::to_value(&s).unwrap();
        let back: Schema = serde_json::from_value(json).unwrap();
        assert_eq!(s, back);
    }
}
