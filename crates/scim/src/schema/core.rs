//! The core User and Group schemas and the enterprise User extension (RFC 7643 §4, §8.7).

use super::{AttributeDef as A, AttributeType, Mutability, Returned, Schema, Uniqueness};

/// The core User schema URN (RFC 7643 §4.1).
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema URN (RFC 7643 §4.2).
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension URN (RFC 7643 §4.3).
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// `id`, `externalId` and `meta`: in every resource, in no schema (RFC 7643 §3.1).
#[must_use]
pub fn common_attributes() -> Vec<A> {
    vec![
        A::string("id")
            .describe("Unique identifier for the SCIM resource as defined by the service provider.")
            .case_exact()
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server),
        A::string("externalId")
            .describe("Identifier for the resource as defined by the provisioning client.")
            .case_exact(),
        A::complex(
            "meta",
            vec![
                A::string("resourceType")
                    .case_exact()
                    .mutability(Mutability::ReadOnly),
                A::date_time("created").mutability(Mutability::ReadOnly),
                A::date_time("lastModified").mutability(Mutability::ReadOnly),
                A::reference("location", &["uri"]).mutability(Mutability::ReadOnly),
                A::string("version")
                    .case_exact()
                    .mutability(Mutability::ReadOnly),
            ],
        )
        .describe("Resource metadata.")
        .mutability(Mutability::ReadOnly),
    ]
}

/// A multi-valued complex attribute in the usual `value`/`display`/`type`/`primary` shape.
fn plural(name: &str, value: A, types: &[&str], description: &str) -> A {
    A::complex(
        name,
        vec![
            value,
            A::string("display"),
            A::string("type").canonical(types),
            A::boolean("primary"),
        ],
    )
    .multi()
    .describe(description)
}

/// The core User schema (RFC 7643 §4.1, §8.7.1).
#[must_use]
pub fn user_schema() -> Schema {
    Schema {
        id: USER.into(),
        name: "User".into(),
        description: "User Account".into(),
        attributes: vec![
            A::string("userName")
                .describe("Unique identifier for the User, typically used to authenticate.")
                .required()
                .uniqueness(Uniqueness::Server),
            A::complex(
                "name",
                vec![
                    A::string("formatted"),
                    A::string("familyName"),
                    A::string("givenName"),
                    A::string("middleName"),
                    A::string("honorificPrefix"),
                    A::string("honorificSuffix"),
                ],
            )
            .describe("The components of the user's real name."),
            A::string("displayName").describe("The name of the User, suitable for display."),
            A::string("nickName").describe("The casual way to address the user."),
            A::reference("profileUrl", &["external"])
                .describe("A fully qualified URL pointing to the User's online profile."),
            A::string("title").describe("The user's title, such as \"Vice President\"."),
            A::string("userType")
                .describe("The relationship between the organization and the user."),
            A::string("preferredLanguage")
                .describe("The User's preferred written or spoken language."),
            A::string("locale").describe("The User's default location for localisation."),
            A::string("timezone").describe("The User's time zone in IANA format."),
            A::boolean("active").describe("The User's administrative status."),
            A::string("password")
                .describe("The User's cleartext password. Write-only; never returned.")
                .case_exact()
                .mutability(Mutability::WriteOnly)
                .returned(Returned::Never),
            plural(
                "emails",
                A::string("value"),
                &["work", "home", "other"],
                "Email addresses for the user.",
            ),
            plural(
                "phoneNumbers",
                A::string("value"),
                &["work", "home", "mobile", "fax", "pager", "other"],
                "Phone numbers for the User.",
            ),
            plural(
                "ims",
                A::string("value"),
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
                "Instant messaging addresses for the User.",
            ),
            plural(
                "photos",
                A::reference("value", &["external"]),
                &["photo", "thumbnail"],
                "URLs of photos of the User.",
            ),
            A::complex(
                "addresses",
                vec![
                    A::string("formatted"),
                    A::string("streetAddress"),
                    A::string("locality"),
                    A::string("region"),
                    A::string("postalCode"),
                    A::string("country"),
                    A::string("type").canonical(&["work", "home", "other"]),
                    A::boolean("primary"),
                ],
            )
            .multi()
            .describe("A physical mailing address for this User."),
            A::complex(
                "groups",
                vec![
                    A::string("value").mutability(Mutability::ReadOnly),
                    A::reference("$ref", &["User", "Group"]).mutability(Mutability::ReadOnly),
                    A::string("display").mutability(Mutability::ReadOnly),
                    A::string("type")
                        .canonical(&["direct", "indirect"])
                        .mutability(Mutability::ReadOnly),
                ],
            )
            .multi()
            .mutability(Mutability::ReadOnly)
            .describe("The groups the user belongs to, managed by the service provider."),
            plural(
                "entitlements",
                A::string("value"),
                &[],
                "A list of entitlements for the User.",
            ),
            plural(
                "roles",
                A::string("value"),
                &[],
                "A list of roles for the User.",
            ),
            plural(
                "x509Certificates",
                A::new("value", AttributeType::Binary),
                &[],
                "A list of certificates issued to the User.",
            ),
        ],
    }
}

/// The core Group schema (RFC 7643 §4.2, §8.7.1).
///
/// `displayName` is declared unique: IdPs match groups on it, and Entra ID requires it.
#[must_use]
pub fn group_schema() -> Schema {
    Schema {
        id: GROUP.into(),
        name: "Group".into(),
        description: "Group".into(),
        attributes: vec![
            A::string("displayName")
                .describe("A human-readable name for the Group.")
                .required()
                .uniqueness(Uniqueness::Server),
            A::complex(
                "members",
                vec![
                    A::string("value")
                        .describe("Identifier of the member of this Group.")
                        .case_exact()
                        .mutability(Mutability::Immutable),
                    A::reference("$ref", &["User", "Group"]).mutability(Mutability::Immutable),
                    A::string("display").mutability(Mutability::Immutable),
                    A::string("type")
                        .canonical(&["User", "Group"])
                        .mutability(Mutability::Immutable),
                ],
            )
            .multi()
            .describe("A list of members of the Group."),
        ],
    }
}

/// The enterprise User extension (RFC 7643 §4.3, §8.7.1).
#[must_use]
pub fn enterprise_user_schema() -> Schema {
    Schema {
        id: ENTERPRISE_USER.into(),
        name: "EnterpriseUser".into(),
        description: "Enterprise User".into(),
        attributes: vec![
            A::string("employeeNumber")
                .describe("Numeric or alphanumeric identifier assigned to a person."),
            A::string("costCenter").describe("Identifies the name of a cost center."),
            A::string("organization").describe("Identifies the name of an organization."),
            A::string("division").describe("Identifies the name of a division."),
            A::string("department").describe("Identifies the name of a department."),
            A::complex(
                "manager",
                vec![
                    A::string("value")
                        .describe("The id of the SCIM resource representing the User's manager."),
                    A::reference("$ref", &["User"]),
                    A::string("displayName").mutability(Mutability::ReadOnly),
                ],
            )
            .describe("The User's manager."),
        ],
    }
}
