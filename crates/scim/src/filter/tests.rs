//! Filter tests: the RFC 7644 §3.4.2.2 examples and Entra ID's shapes (parsed and
//! evaluated), error spans, PATCH paths, evaluation semantics, validation, and properties
//! (display parses back to the same tree; nothing panics on any input).

use proptest::prelude::*;
use serde_json::{Number, Value, json};

use super::*;
use crate::path::{AttrPath, PatchPath};
use crate::schema::{AttributeDef, AttributeType, ResourceSchema, Schema};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

// ---------------------------------------------------------------------------------------
// Tree builders

fn p(s: &str) -> AttrPath {
    AttrPath::parse(s).unwrap()
}

fn cmp(path: &str, op: CompareOp, value: impl Into<Lit>) -> Filter {
    Filter::Compare {
        path: p(path),
        op,
        value: value.into().0,
    }
}

fn pr(path: &str) -> Filter {
    Filter::Present(p(path))
}

fn and(l: Filter, r: Filter) -> Filter {
    Filter::And(Box::new(l), Box::new(r))
}

fn or(l: Filter, r: Filter) -> Filter {
    Filter::Or(Box::new(l), Box::new(r))
}

fn not(f: Filter) -> Filter {
    Filter::Not(Box::new(f))
}

fn vp(path: &str, f: Filter) -> Filter {
    Filter::ValuePath {
        path: p(path),
        filter: Box::new(f),
    }
}

/// A literal, built from Rust values in the tests.
struct Lit(CompValue);

impl From<&str> for Lit {
    fn from(s: &str) -> Self {
        Lit(CompValue::String(s.to_owned()))
    }
}

impl From<i64> for Lit {
    fn from(n: i64) -> Self {
        Lit(CompValue::Number(n.into()))
    }
}

impl From<bool> for Lit {
    fn from(b: bool) -> Self {
        Lit(CompValue::Bool(b))
    }
}

impl From<CompValue> for Lit {
    fn from(v: CompValue) -> Self {
        Lit(v)
    }
}

use CompareOp::{Co, Eq, Ge, Gt, Le, Lt, Ne, Sw};

// ---------------------------------------------------------------------------------------
// Fixtures

/// Barbara Jensen: RFC 7643 §8.2's full user with §8.3's enterprise extension.
fn bjensen() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [
            {
                "type": "work",
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                "primary": true
            },
            {
                "type": "home",
                "streetAddress": "456 Hollywood Blvd",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "456 Hollywood Blvd\nHollywood, CA 91608 USA"
            }
        ],
        "phoneNumbers": [
            {"value": "555-555-5555", "type": "work"},
            {"value": "555-555-4444", "type": "mobile"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "photos": [
            {"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"},
            {"value": "https://photos.example.com/profilephoto/72930000000Ccne/T", "type": "thumbnail"}
        ],
        "userType": "Employee",
        "title": "Tour Guide",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "password": "t1meMa$heen",
        "groups": [
            {"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "$ref": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"},
            {"value": "fc348aa8-3835-40eb-a20b-c726e15c55b5", "$ref": "https://example.com/v2/Groups/fc348aa8-3835-40eb-a20b-c726e15c55b5", "display": "Employees"},
            {"value": "71ddacd2-a8e7-49b8-a5db-ae50d0a5bfd7", "$ref": "https://example.com/v2/Groups/71ddacd2-a8e7-49b8-a5db-ae50d0a5bfd7", "display": "US Employees"}
        ],
        "x509Certificates": [
            {"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}
        ],
        ENTERPRISE: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": {
                "value": "26118915-6090-4610-87e4-49d8ca9f808d",
                "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
                "displayName": "John Smith"
            }
        },
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\"",
            "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
        }
    })
}

/// A user as Entra ID provisions it.
fn adele() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "id": "8a1e3c6e-0001",
        "externalId": "AdeleV",
        "userName": "AdeleV@contoso.com",
        "active": true,
        "displayName": "Adele Vance",
        "emails": [{"primary": true, "type": "work", "value": "AdeleV@contoso.com"}],
        "urn:IETF:params:scim:schemas:extension:enterprise:2.0:user": {
            "manager": {"value": "mgr-42"}
        }
    })
}

fn user() -> ResourceSchema {
    ResourceSchema::user()
}

fn matches(filter: &str, resource: &Value) -> bool {
    let f = parse(filter).unwrap_or_else(|e| panic!("{filter:?}: {e}"));
    f.validate(&user())
        .unwrap_or_else(|e| panic!("{filter:?}: {e}"));
    f.matches(resource, &user())
}

// ---------------------------------------------------------------------------------------
// RFC 7644 §3.4.2.2 examples

#[test]
fn rfc_examples_parse_to_the_expected_trees() {
    let cases: Vec<(&str, Filter)> = vec![
        (r#"userName eq "bjensen""#, cmp("userName", Eq, "bjensen")),
        (
            r#"name.familyName co "O'Malley""#,
            cmp("name.familyName", Co, "O'Malley"),
        ),
        (r#"userName sw "J""#, cmp("userName", Sw, "J")),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            cmp(
                "urn:ietf:params:scim:schemas:core:2.0:User:userName",
                Sw,
                "J",
            ),
        ),
        ("title pr", pr("title")),
        (
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            cmp("meta.lastModified", Gt, "2011-05-13T04:42:34Z"),
        ),
        (
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            cmp("meta.lastModified", Ge, "2011-05-13T04:42:34Z"),
        ),
        (
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            cmp("meta.lastModified", Lt, "2011-05-13T04:42:34Z"),
        ),
        (
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            cmp("meta.lastModified", Le, "2011-05-13T04:42:34Z"),
        ),
        (
            r#"title pr and userType eq "Employee""#,
            and(pr("title"), cmp("userType", Eq, "Employee")),
        ),
        (
            r#"title pr or userType eq "Intern""#,
            or(pr("title"), cmp("userType", Eq, "Intern")),
        ),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            cmp("schemas", Eq, ENTERPRISE),
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            and(
                cmp("userType", Eq, "Employee"),
                or(
                    cmp("emails", Co, "example.com"),
                    cmp("emails.value", Co, "example.org"),
                ),
            ),
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            and(
                cmp("userType", Ne, "Employee"),
                not(or(
                    cmp("emails", Co, "example.com"),
                    cmp("emails.value", Co, "example.org"),
                )),
            ),
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            and(
                cmp("userType", Eq, "Employee"),
                cmp("emails.type", Eq, "work"),
            ),
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            and(
                cmp("userType", Eq, "Employee"),
                vp(
                    "emails",
                    and(cmp("type", Eq, "work"), cmp("value", Co, "@example.com")),
                ),
            ),
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            or(
                vp(
                    "emails",
                    and(cmp("type", Eq, "work"), cmp("value", Co, "@example.com")),
                ),
                vp(
                    "ims",
                    and(cmp("type", Eq, "xmpp"), cmp("value", Co, "@foo.com")),
                ),
            ),
        ),
    ];
    for (text, tree) in cases {
        let parsed = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(parsed, tree, "{text}");
        assert_eq!(parse(&parsed.to_string()).unwrap(), tree, "{text}");
        parsed
            .validate(&user())
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
}

#[test]
fn rfc_examples_evaluate_against_bjensen() {
    let b = bjensen();
    let cases = [
        (r#"userName eq "bjensen""#, false),
        (r#"userName eq "bjensen@example.com""#, true),
        (r#"name.familyName co "O'Malley""#, false),
        (r#"name.familyName co "ENS""#, true),
        (r#"userName sw "J""#, false),
        (r#"userName sw "B""#, true),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            false,
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#,
            true,
        ),
        ("title pr", true),
        ("nickName pr", true),
        ("name.honorificSuffix pr", true),
        ("ims.display pr", false),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified gt "2011-05-13T04:42:33.999Z""#, true),
        (r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, true),
        (r#"meta.lastModified lt "2011-05-13T00:00:00-05:00""#, true),
        (r#"title pr and userType eq "Employee""#, true),
        (r#"title pr and userType eq "Intern""#, false),
        (r#"title pr or userType eq "Intern""#, true),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            true,
        ),
        (
            r#"schemas eq "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER""#,
            true,
        ),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:Group""#,
            false,
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            true,
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            false,
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            true,
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            true,
        ),
        (
            r#"userType eq "Employee" and emails[type eq "home" and value co "@example.com"]"#,
            false,
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            true,
        ),
        (
            r#"emails[type eq "home" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            false,
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(matches(filter, &b), expected, "{filter}");
    }
}

#[test]
fn rfc_value_paths_need_one_element_to_satisfy_all_of_the_inner_filter() {
    // Barbara has a work email and an example.org-free home email; no single element is both
    // "home" and "@example.com", though the resource as a whole has both.
    let b = bjensen();
    assert!(matches(
        r#"emails.type eq "home" and emails.value co "@example.com""#,
        &b
    ));
    assert!(!matches(
        r#"emails[type eq "home" and value co "@example.com"]"#,
        &b
    ));
}

// ---------------------------------------------------------------------------------------
// Entra ID

#[test]
fn entra_shapes_parse() {
    let cases: Vec<(&str, Filter)> = vec![
        (
            r#"userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1""#,
            cmp(
                "userName",
                Eq,
                "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
            ),
        ),
        (r#"externalId eq "AdeleV""#, cmp("externalId", Eq, "AdeleV")),
        (r#"displayName eq "Sales""#, cmp("displayName", Eq, "Sales")),
        (
            r#"emails[type eq "work"].value eq "AdeleV@contoso.com""#,
            vp(
                "emails",
                and(
                    cmp("type", Eq, "work"),
                    cmp("value", Eq, "AdeleV@contoso.com"),
                ),
            ),
        ),
        (
            r#"emails[type eq "work"].value pr"#,
            vp("emails", and(cmp("type", Eq, "work"), pr("value"))),
        ),
        (
            r#"id eq "x" and manager eq "y""#,
            and(cmp("id", Eq, "x"), cmp("manager", Eq, "y")),
        ),
        ("externalId eq jyoung", cmp("externalId", Eq, "jyoung")),
        (
            "userName eq jyoung@contoso.com",
            cmp("userName", Eq, "jyoung@contoso.com"),
        ),
    ];
    for (text, tree) in cases {
        assert_eq!(parse(text).unwrap(), tree, "{text}");
    }
}

#[test]
fn entra_shapes_evaluate() {
    let a = adele();
    let cases = [
        (r#"userName eq "AdeleV@contoso.com""#, true),
        (r#"userName eq "ADELEV@CONTOSO.COM""#, true),
        (
            r#"userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1""#,
            false,
        ),
        (r#"externalId eq "AdeleV""#, true),
        // `externalId` and `id` are caseExact (RFC 7643 §3.1).
        (r#"externalId eq "adelev""#, false),
        (r#"id eq "8a1e3c6e-0001""#, true),
        (r#"id eq "8A1E3C6E-0001""#, false),
        (
            r#"emails[type eq "work"].value eq "AdeleV@contoso.com""#,
            true,
        ),
        (
            r#"emails[type eq "work"].value eq "adelev@CONTOSO.com""#,
            true,
        ),
        (
            r#"emails[type eq "home"].value eq "AdeleV@contoso.com""#,
            false,
        ),
        // The extension's key is matched case-insensitively, and a complex attribute without
        // a sub-attribute compares its `value`.
        (r#"id eq "8a1e3c6e-0001" and manager eq "mgr-42""#, true),
        (r#"id eq "8a1e3c6e-0001" and manager eq "mgr-43""#, false),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "mgr-42""#,
            true,
        ),
        ("externalId eq AdeleV", true),
        ("externalId eq jyoung", false),
        (r#"active eq "True""#, true),
        (r#"active eq "false""#, false),
        ("active eq TRUE", true),
        ("active ne false", true),
    ];
    for (filter, expected) in cases {
        assert_eq!(matches(filter, &a), expected, "{filter}");
    }

    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g1", "displayName": "Sales"});
    let f = parse(r#"displayName eq "Sales""#).unwrap();
    f.validate(&ResourceSchema::group()).unwrap();
    assert!(f.matches(&group, &ResourceSchema::group()));
    assert!(
        !parse(r#"displayName eq "Marketing""#)
            .unwrap()
            .matches(&group, &ResourceSchema::group())
    );
}

// ---------------------------------------------------------------------------------------
// Parsing details

#[test]
fn keywords_and_operators_are_case_insensitive() {
    assert_eq!(
        parse(r#"userName EQ "a" AND NOT (title Pr) Or active eQ True"#).unwrap(),
        or(
            and(cmp("userName", Eq, "a"), not(pr("title"))),
            cmp("active", Eq, true)
        )
    );
    for (op, expected) in [
        ("eq", Eq),
        ("NE", Ne),
        ("co", Co),
        ("Sw", Sw),
        ("ew", CompareOp::Ew),
        ("gT", Gt),
        ("ge", Ge),
        ("LT", Lt),
        ("le", Le),
    ] {
        assert_eq!(parse(&format!("a {op} 1")).unwrap(), cmp("a", expected, 1));
    }
}

#[test]
fn precedence_is_not_then_and_then_or_left_associative() {
    let [a, b, c, d] = ["a", "b", "c", "d"].map(pr);
    assert_eq!(
        parse("a pr or b pr and c pr").unwrap(),
        or(a.clone(), and(b.clone(), c.clone()))
    );
    assert_eq!(
        parse("a pr and b pr or c pr and d pr").unwrap(),
        or(and(a.clone(), b.clone()), and(c.clone(), d.clone()))
    );
    assert_eq!(
        parse("a pr and b pr and c pr").unwrap(),
        and(and(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        parse("a pr or b pr or c pr").unwrap(),
        or(or(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        parse("(a pr or b pr) and not (c pr)").unwrap(),
        and(or(a, b), not(c))
    );
}

#[test]
fn literals() {
    let v = |s: &str| match parse(&format!("a eq {s}")).unwrap() {
        Filter::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(v("true"), CompValue::Bool(true));
    assert_eq!(v("FALSE"), CompValue::Bool(false));
    assert_eq!(v("Null"), CompValue::Null);
    assert_eq!(v("42"), CompValue::Number(42.into()));
    assert_eq!(v("-7"), CompValue::Number((-7).into()));
    assert_eq!(
        v("18446744073709551615"),
        CompValue::Number(u64::MAX.into())
    );
    assert_eq!(
        v("1.5e3"),
        CompValue::Number(Number::from_f64(1500.0).unwrap())
    );
    assert_eq!(
        v("-0.25"),
        CompValue::Number(Number::from_f64(-0.25).unwrap())
    );
    assert_eq!(
        v(r#""a\"b\\c\/d\b\f\n\r\t""#),
        CompValue::String("a\"b\\c/d\u{8}\u{c}\n\r\t".into())
    );
    assert_eq!(
        v(r#""\u00e9\u4E2D\ud83d\ude00""#),
        CompValue::String("é中😀".into())
    );
    assert_eq!(v("\"naïve ☃\""), CompValue::String("naïve ☃".into()));
    assert_eq!(v("\"\""), CompValue::String(String::new()));
    assert_eq!(
        v("\"(a) [b] and or\""),
        CompValue::String("(a) [b] and or".into())
    );
    // Entra's bare words.
    assert_eq!(v("jyoung"), CompValue::String("jyoung".into()));
    assert_eq!(v("O'Malley"), CompValue::String("O'Malley".into()));
    assert_eq!(
        v("2011-05-13T04:42:34Z"),
        CompValue::String("2011-05-13T04:42:34Z".into())
    );
    assert_eq!(v("123abc"), CompValue::String("123abc".into()));
}

#[test]
fn paths() {
    assert_eq!(
        parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr")
            .unwrap(),
        Filter::Present(AttrPath {
            urn: Some(ENTERPRISE.into()),
            name: "manager".into(),
            sub: Some("value".into()),
        })
    );
    // A URN path ends at a bracket or parenthesis as well as at whitespace.
    assert_eq!(
        parse(r#"(urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"])"#).unwrap(),
        vp(
            "urn:ietf:params:scim:schemas:core:2.0:User:emails",
            cmp("type", Eq, "work")
        )
    );
    assert_eq!(parse("members.$ref pr").unwrap(), pr("members.$ref"));
    // Attribute names that are also keywords are still attribute names where one is expected.
    assert_eq!(
        parse("not pr and and eq 1 or or[pr pr]").unwrap(),
        or(and(pr("not"), cmp("and", Eq, 1)), vp("or", pr("pr")))
    );
    // Whitespace is flexible, including none next to self-delimiting tokens.
    assert_eq!(
        parse("\t( a eq\"x\"\n)and not(b pr)").unwrap(),
        and(cmp("a", Eq, "x"), not(pr("b")))
    );
    assert_eq!(
        parse(r#"name[givenName eq "Barbara"]"#).unwrap(),
        vp("name", cmp("givenName", Eq, "Barbara"))
    );
    assert_eq!("title pr".parse::<Filter>().unwrap(), pr("title"));
}

// ---------------------------------------------------------------------------------------
// Errors

#[track_caller]
fn fails(input: &str, message: &str, span: std::ops::Range<usize>) {
    let e = parse(input).expect_err(input);
    assert!(
        e.message.contains(message),
        "{input:?}: {:?} does not contain {message:?}",
        e.message
    );
    assert_eq!(e.span, span, "{input:?}: {}", e.message);
}

#[test]
fn errors_carry_messages_and_spans() {
    fails("", "empty filter", 0..0);
    fails("  \t", "empty filter", 0..3);
    fails(r#"title foo "x""#, "unknown operator 'foo'", 6..9);
    fails("title", "missing operator after 'title'", 5..5);
    fails(
        "title )",
        "expected an operator after 'title', found ')'",
        6..7,
    );
    fails("title eq", "missing value after 'eq'", 8..8);
    fails("title eq )", "missing value after 'eq'", 9..10);
    fails("title eq and b pr", "missing value after 'eq'", 9..12);
    fails("(title pr", "unclosed '('", 0..1);
    fails("a pr and (b pr or (c pr)", "unclosed '('", 9..10);
    fails("title pr)", "unbalanced ')'", 8..9);
    fails("title pr]", "unbalanced ']'", 8..9);
    fails(r#"emails[type eq "work""#, "unclosed '['", 6..7);
    fails(
        r#"emails[type eq "work")"#,
        "expected 'and', 'or' or ']', found ')'",
        21..22,
    );
    fails("(a pr]", "expected 'and', 'or' or ')', found ']'", 5..6);
    fails(
        "title pr userName",
        "expected 'and', 'or' or end of filter, found 'userName'",
        9..17,
    );
    fails(r#"title pr "x""#, "found string \"x\"", 9..12);
    fails("title pr and", "missing filter after 'and'", 12..12);
    fails(
        "title pr or )",
        "expected an attribute path, '(' or 'not' after 'or', found ')'",
        12..13,
    );
    fails(r#""x" eq title"#, "expected an attribute path", 0..3);
    fails("not title pr", "expected '(' after 'not'", 4..9);
    fails(r#"title eq "abc"#, "unterminated string", 9..13);
    fails(r#"title eq "abc\"#, "unterminated string", 9..14);
    fails(r#"title eq "a\qb""#, "invalid escape '\\q'", 11..13);
    fails(r#"title eq "a\éb""#, "invalid escape '\\é'", 11..14);
    fails(r#"title eq "\u12G4""#, "invalid unicode escape", 10..16);
    fails(r#"title eq "\u12""#, "invalid unicode escape", 10..15);
    fails(r#"title eq "\uD800""#, "unpaired", 10..16);
    fails(r#"title eq "\uD800\n""#, "unpaired", 10..16);
    fails(r#"title eq "\uD800\u0041""#, "unpaired", 10..16);
    fails(r#"title eq "\uDC00""#, "unpaired", 10..16);
    fails("title eq \"a\nb\"", "control character U+000A", 11..12);
    fails("title eq 01", "invalid number '01'", 9..11);
    fails("title eq 1.", "invalid number", 9..11);
    fails("title eq -", "invalid number", 9..10);
    fails("title eq 1e999", "invalid number", 9..14);
    fails("1title pr", "invalid attribute path '1title'", 0..6);
    fails("a.b.c pr", "invalid attribute path", 0..5);
    // Non-ASCII never reaches `AttrPath::parse`, whose URN check slices at byte 4.
    fails("Ⱥ】 pr", "not ASCII", 0..5);
    fails("urn:é:x pr", "not ASCII", 0..8);
    fails(
        r#"emails.value[type eq "work"]"#,
        "has a sub-attribute",
        0..12,
    );
    fails(
        r#"emails[value[type eq "work"]]"#,
        "cannot contain another value filter",
        12..13,
    );
    fails(
        r#"emails[urn:ietf:params:scim:schemas:core:2.0:User:type eq "work"]"#,
        "relative to the element",
        7..54,
    );
    fails(
        r#"emails[type eq "work"].value"#,
        "missing operator after 'value'",
        28..28,
    );
    fails(
        r#"emails[type eq "work"].1x eq "a""#,
        "invalid sub-attribute name '1x'",
        23..25,
    );
    fails(
        r#"emails[type eq "work"] .value eq "a""#,
        "found '.value'",
        23..29,
    );
}

#[test]
fn limits_bound_length_and_nesting() {
    let tight = Limits {
        max_len: 10,
        max_depth: 3,
    };
    let e = parse_with("userName pr", &tight).unwrap_err();
    assert!(e.message.contains("too long"), "{}", e.message);
    assert_eq!(e.span, 10..11);
    // The span never splits a character.
    let e = parse_with(
        "title eq \"ééé\"",
        &Limits {
            max_len: 11,
            ..tight
        },
    )
    .unwrap_err();
    assert_eq!(e.span, 10..17);

    let shallow = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    assert!(parse_with("(((a pr)))", &shallow).is_ok());
    let e = parse_with("((((a pr))))", &shallow).unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{}", e.message);
    assert_eq!(e.span, 3..4);
    let e = parse_with("not (not (x[not (a pr)]))", &shallow).unwrap_err();
    assert_eq!(e.span, 16..17);

    let deep = format!("{}a pr{}", "(".repeat(33), ")".repeat(33));
    assert_eq!(parse(&deep).unwrap_err().span, 32..33);
    assert!(parse(&deep[1..deep.len() - 1]).is_ok());
    assert!(
        parse(&"a".repeat(8193))
            .unwrap_err()
            .message
            .contains("too long")
    );
}

#[test]
fn long_chains_do_not_nest_and_stay_within_the_stack() {
    // The longest chain the default limits allow: every consumer recurses on it.
    let mut text = String::from("a pr");
    while text.len() + 9 <= 8192 {
        text.push_str(" and a pr");
    }
    let f = parse(&text).unwrap();
    assert_eq!(parse(&f.to_string()).unwrap(), f);
    assert!(f.matches(&json!({"a": 1}), &user()));
    assert!(f.validate(&user()).is_err());
    let f = parse(&text.replace(" and ", " or ")).unwrap();
    assert_eq!(parse(&f.to_string()).unwrap(), f);
    assert!(f.matches(&json!({"a": 1}), &user()));
}

#[test]
fn filter_errors_become_invalid_filter() {
    let e: ScimError = parse("title foo 1").unwrap_err().into();
    assert_eq!(e.status, 400);
    assert_eq!(e.scim_type, Some(crate::ScimType::InvalidFilter));
    assert!(e.detail.contains("unknown operator 'foo'"), "{}", e.detail);
    assert!(e.detail.contains("at byte 6"), "{}", e.detail);
}

use crate::ScimError;

// ---------------------------------------------------------------------------------------
// Display

#[test]
fn display_is_lowercase_with_minimal_parentheses() {
    let [a, b, c] = ["a", "b", "c"].map(pr);
    let cases = [
        (
            and(a.clone(), and(b.clone(), c.clone())),
            "a pr and (b pr and c pr)",
        ),
        (
            and(and(a.clone(), b.clone()), c.clone()),
            "a pr and b pr and c pr",
        ),
        (
            or(a.clone(), or(b.clone(), c.clone())),
            "a pr or (b pr or c pr)",
        ),
        (
            or(or(a.clone(), b.clone()), c.clone()),
            "a pr or b pr or c pr",
        ),
        (
            and(or(a.clone(), b.clone()), c.clone()),
            "(a pr or b pr) and c pr",
        ),
        (
            and(a.clone(), or(b.clone(), c.clone())),
            "a pr and (b pr or c pr)",
        ),
        (
            or(and(a.clone(), b.clone()), c.clone()),
            "a pr and b pr or c pr",
        ),
        (
            or(a.clone(), and(b.clone(), c.clone())),
            "a pr or b pr and c pr",
        ),
        (not(or(a.clone(), b.clone())), "not (a pr or b pr)"),
        (and(not(a.clone()), b.clone()), "not (a pr) and b pr"),
        (
            vp("emails", or(cmp("type", Eq, "work"), not(pr("value")))),
            r#"emails[type eq "work" or not (value pr)]"#,
        ),
        (
            cmp("a", Ne, "quote \" backslash \\ newline \n é"),
            r#"a ne "quote \" backslash \\ newline \n é""#,
        ),
        (cmp("a", Eq, CompValue::Null), "a eq null"),
        (cmp("a", Eq, false), "a eq false"),
        (cmp("a", Gt, -3), "a gt -3"),
    ];
    for (tree, text) in cases {
        assert_eq!(tree.to_string(), text);
        assert_eq!(parse(text).unwrap(), tree, "{text}");
    }
    assert_eq!(
        parse(r#"USERNAME Eq "x" AnD emails[TYPE eq "work"].value EQ "y""#)
            .unwrap()
            .to_string(),
        r#"USERNAME eq "x" and emails[TYPE eq "work" and value eq "y"]"#
    );
}

// ---------------------------------------------------------------------------------------
// PATCH paths

#[test]
fn patch_paths() {
    let plain = |attr: &str| PatchPath {
        attr: p(attr),
        filter: None,
        sub: None,
    };
    assert_eq!(PatchPath::parse("members").unwrap(), plain("members"));
    assert_eq!(
        PatchPath::parse("name.givenName").unwrap(),
        plain("name.givenName")
    );
    assert_eq!(
        PatchPath::parse(&format!("{ENTERPRISE}:manager.value")).unwrap(),
        plain(&format!("{ENTERPRISE}:manager.value"))
    );
    let work = PatchPath {
        attr: p("emails"),
        filter: Some(cmp("type", Eq, "work")),
        sub: None,
    };
    assert_eq!(PatchPath::parse(r#"emails[type eq "work"]"#).unwrap(), work);
    let work_value = PatchPath {
        sub: Some("value".into()),
        ..work
    };
    assert_eq!(
        PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap(),
        work_value
    );
    assert_eq!(
        PatchPath::parse(r#"members[value eq "a]b" or value eq "c[d"]"#)
            .unwrap()
            .filter,
        Some(or(cmp("value", Eq, "a]b"), cmp("value", Eq, "c[d")))
    );
    assert_eq!(
        PatchPath::parse(&format!(
            r#"{ENTERPRISE}:manager[value eq "x"].displayName"#
        ))
        .unwrap()
        .sub
        .as_deref(),
        Some("displayName")
    );
    for text in [
        "members",
        r#"emails[type eq "work" and not (primary eq true)].value"#,
        r#"addresses[type eq "work"]"#,
    ] {
        let path = PatchPath::parse(text).unwrap();
        assert_eq!(path.to_string(), text);
        assert_eq!(PatchPath::parse(&path.to_string()).unwrap(), path);
    }

    let fails = |input: &str, message: &str, span: std::ops::Range<usize>| {
        let e = PatchPath::parse(input).expect_err(input);
        assert!(e.message.contains(message), "{input:?}: {}", e.message);
        assert_eq!(e.span, span, "{input:?}: {}", e.message);
    };
    fails("", "empty path", 0..0);
    fails("1x", "invalid attribute path", 0..2);
    fails("name givenName", "unexpected 'givenName'", 5..14);
    fails(
        r#"emails.value[type eq "work"]"#,
        "has a sub-attribute",
        0..12,
    );
    fails(r#"emails[type eq "work""#, "unclosed '['", 6..7);
    fails(r#"emails[type eq "work"]x"#, "unexpected 'x'", 22..23);
    fails(
        r#"emails[type eq "work"].value eq "x""#,
        "unexpected 'eq'",
        29..31,
    );
    fails(
        r#"emails[type eq "work"].$$"#,
        "invalid sub-attribute name",
        23..25,
    );
    fails(r#"emails[value[type pr]]"#, "another value filter", 12..13);
    fails(r#"[type pr]"#, "expected an attribute path", 0..1);
}

// ---------------------------------------------------------------------------------------
// Evaluation semantics

/// The user schema with an extension holding one attribute of each remaining type.
fn custom() -> ResourceSchema {
    let mut multi_int = AttributeDef::new("scores", AttributeType::Integer);
    multi_int.multi_valued = true;
    user().with_extension(
        Schema {
            id: "urn:example:params:scim:schemas:extension:test:1.0:User".into(),
            name: "Test".into(),
            description: String::new(),
            attributes: vec![
                AttributeDef::new("age", AttributeType::Integer),
                AttributeDef::new("height", AttributeType::Decimal),
                AttributeDef::new("photo", AttributeType::Binary),
                AttributeDef::date_time("hired"),
                AttributeDef::string("code").case_exact(),
                multi_int,
                AttributeDef::complex(
                    "badges",
                    vec![
                        AttributeDef::string("name"),
                        AttributeDef::new("level", AttributeType::Integer),
                    ],
                )
                .multi(),
            ],
        },
        false,
    )
}

fn custom_user() -> Value {
    json!({
        "userName": "Ünïcode@Example.com",
        "title": "",
        "nickName": null,
        "phoneNumbers": [],
        "name": {},
        "addresses": [{"type": "home", "primary": false}],
        "emails": [{"value": "x@y.z", "type": "WORK"}],
        "customThing": "Hello",
        "customNumber": 7,
        "urn:example:params:scim:schemas:extension:test:1.0:User": {
            "age": 42,
            "height": 1.75,
            "photo": "aGVsbG8=",
            "hired": "2020-02-29T12:00:00.5+01:00",
            "code": "AbC",
            "scores": [3, 18446744073709551615_u64, -2],
            "badges": [{"name": "gold", "level": 3}, {"name": "silver", "level": "1"}]
        }
    })
}

#[test]
fn evaluation_semantics() {
    let schema = custom();
    let u = custom_user();
    let check = |filter: &str, expected: bool| {
        let f = parse(filter).unwrap_or_else(|e| panic!("{filter:?}: {e}"));
        assert_eq!(f.matches(&u, &schema), expected, "{filter}");
    };
    // Unicode lowercasing for case-insensitive strings.
    check(r#"userName eq "ünïcode@example.COM""#, true);
    check(r#"userName co "NÏC""#, true);
    check(r#"userName ew "@EXAMPLE.com""#, true);
    check(r#"userName gt "tz""#, true);
    check(r#"userName lt "a""#, false);
    // caseExact.
    check(r#"code eq "AbC""#, true);
    check(r#"code eq "abc""#, false);
    check(r#"code sw "Ab""#, true);
    // Presence: "", null, [] and {} are unassigned.
    check("title pr", false);
    check("nickName pr", false);
    check("phoneNumbers pr", false);
    check("name pr", false);
    check("addresses pr", true);
    check("addresses.streetAddress pr", false);
    check("emails.value pr", true);
    check("displayName pr", false);
    check("title eq null", true);
    check("title ne null", false);
    check("userName eq null", false);
    check("userName ne null", true);
    check("displayName eq null", true);
    // `ne` is the negation of `eq`, absent attributes included.
    check(r#"displayName ne "x""#, true);
    check(r#"emails.type ne "work""#, false);
    check(r#"emails.type ne "home""#, true);
    // Numbers compare numerically, exactly for large integers; numeric strings are read.
    check("age eq 42", true);
    check("age eq 42.0", true);
    check("age gt 41.5", true);
    check("age le 41", false);
    check(r#"age eq "42""#, true);
    check("height lt 2", true);
    check("height ge 1.75", true);
    check("scores eq 18446744073709551615", true);
    check("scores gt 18446744073709551614", true);
    check("scores lt -1", true);
    check("scores eq 4", false);
    check("badges[level ge 3 and name eq \"GOLD\"]", true);
    check("badges[level eq 1]", true);
    check("badges.level gt 2", true);
    // Binary compares exactly, eq/ne only.
    check(r#"photo eq "aGVsbG8=""#, true);
    check(r#"photo eq "AGVSBG8=""#, false);
    // dateTime compares as instants, falling back to strings when either side is not one.
    check(r#"hired eq "2020-02-29T11:00:00.500Z""#, true);
    check(r#"hired gt "2020-02-29T11:00:00Z""#, true);
    check(r#"hired lt "2020-02-29T11:00:00.5000001Z""#, true);
    check(r#"hired sw "2020-02""#, true);
    check(r#"hired gt "2020""#, true);
    check(r#"hired eq "2020-02-30T11:00:00Z""#, false);
    // Unknown attributes compare by their JSON type, strings case-insensitively.
    check(r#"customThing eq "hello""#, true);
    check("customThing pr", true);
    check("customNumber gt 6", true);
    check(r#"nothing eq "x""#, false);
    check(r#"nothing ne "x""#, true);
    check("nothing[value pr]", false);
    // Single-valued complex value path.
    check(r#"emails[type eq "work" and value ew ".Z"]"#, true);
    assert!(
        parse(r#"name[givenName eq "barbara"]"#)
            .unwrap()
            .matches(&bjensen(), &user())
    );
    // A value path on a non-complex attribute matches nothing.
    check(r#"userName[value pr]"#, false);
    // Nonsense never panics.
    check("age co 4", false);
    check("active gt true", false);
    // Ordering a complex attribute is invalid (see `validation`); evaluated anyway, it
    // compares `value` like every other operator does.
    check("emails gt \"a\"", true);
    assert!(
        !parse("a pr")
            .unwrap()
            .matches(&json!("not an object"), &schema)
    );
    assert!(!parse("a eq 1").unwrap().matches(&Value::Null, &schema));
}

#[test]
fn matches_element_evaluates_relative_paths() {
    let schema = user();
    let emails = schema.core.attribute("emails").unwrap();
    let f = parse(r#"type eq "WORK" and primary eq true"#).unwrap();
    f.validate_element(emails).unwrap();
    assert!(f.matches_element(
        &json!({"type": "work", "primary": true, "value": "a@b"}),
        emails
    ));
    assert!(f.matches_element(&json!({"TYPE": "Work", "Primary": "true"}), emails));
    assert!(!f.matches_element(&json!({"type": "home", "primary": true}), emails));
    assert!(!f.matches_element(&json!("scalar"), emails));
    let members = ResourceSchema::group();
    let members = members.core.attribute("members").unwrap();
    // Group members' `value` is caseExact.
    let f = parse(r#"value eq "AbC""#).unwrap();
    assert!(f.matches_element(&json!({"value": "AbC"}), members));
    assert!(!f.matches_element(&json!({"value": "abc"}), members));
}

#[test]
fn validation() {
    let schema = custom();
    let ok = [
        "userName pr",
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"emails co "example.com""#,
        r#"manager eq "x""#,
        "age gt 3",
        "active eq true",
        "active eq null",
        "name eq null",
        r#"schemas eq "x""#,
        r#"emails[type eq "work"].value eq "x""#,
        r#"name[givenName sw "B"]"#,
        r#"urn:example:params:scim:schemas:extension:test:1.0:User:badges[level lt 2]"#,
    ];
    for f in ok {
        parse(f)
            .unwrap()
            .validate(&schema)
            .unwrap_or_else(|e| panic!("{f:?}: {e}"));
    }
    let bad = [
        (r#"nope eq "x""#, "unknown attribute 'nope'"),
        (
            "name.nope pr",
            "attribute 'name' has no sub-attribute 'nope'",
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:manager pr",
            "unknown attribute",
        ),
        ("schemas.x pr", "unknown attribute 'schemas.x'"),
        ("active gt true", "'gt' cannot compare 'active', a boolean"),
        ("photo lt \"x\"", "'lt' cannot compare 'photo', a binary"),
        ("photo co \"x\"", "'co' cannot compare 'photo', a binary"),
        ("active sw \"t\"", "'sw' cannot compare 'active', a boolean"),
        ("age co 4", "'co' cannot compare 'age', a integer"),
        ("emails gt \"x\"", "'gt' on complex attribute 'emails'"),
        ("name eq \"x\"", "complex attribute 'name' has no 'value'"),
        ("title gt null", "only eq and ne compare with null"),
        (
            r#"userName[value eq "x"]"#,
            "'userName', which is not a complex",
        ),
        (
            r#"emails[nope eq "x"]"#,
            "attribute 'emails' has no sub-attribute 'nope'",
        ),
        (
            r#"emails[primary gt true]"#,
            "'gt' cannot compare 'primary'",
        ),
        (r#"nope[value eq "x"]"#, "unknown attribute 'nope'"),
    ];
    for (f, message) in bad {
        let e = parse(f).unwrap().validate(&schema).expect_err(f);
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidFilter));
        assert!(e.detail.contains(message), "{f:?}: {}", e.detail);
    }
    // Trees the parser never builds are still rejected.
    let nested = vp("emails", vp("value", pr("x")));
    assert!(nested.validate(&schema).is_err());
    let with_sub = vp("emails.value", pr("type"));
    assert!(with_sub.validate(&schema).is_err());
    let urn_inside = vp("emails", pr(&format!("{ENTERPRISE}:type")));
    assert!(urn_inside.validate(&schema).is_err());
    let sub_sub = vp("emails", pr("type.x"));
    assert!(sub_sub.validate(&schema).is_err());

    let emails = user().core.attribute("emails").cloned().unwrap();
    parse(r#"type eq "work" and value co "@""#)
        .unwrap()
        .validate_element(&emails)
        .unwrap();
    let e = parse("display gt 3 or nope pr")
        .unwrap()
        .validate_element(&emails)
        .unwrap_err();
    assert!(e.detail.contains("no sub-attribute 'nope'"), "{}", e.detail);
    let e = parse("value pr")
        .unwrap()
        .validate_element(&AttributeDef::string("userName"))
        .unwrap_err();
    assert!(
        e.detail.contains("'userName' is not a complex"),
        "{}",
        e.detail
    );
}

// ---------------------------------------------------------------------------------------
// Properties

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "userName",
            "emails",
            "value",
            "type",
            "primary",
            "$ref",
            "and",
            "or",
            "not",
            "pr",
            "eq",
            "true",
            "null",
            "a-b_c",
            "x509Certificates",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
    ]
}

fn urn() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "urn:ietf:params:scim:schemas:core:2.0:User",
        ENTERPRISE,
        "URN:example:Ext:1.0:Thing",
        "urn:a",
    ])
    .prop_map(str::to_owned)
}

fn full_path() -> BoxedStrategy<AttrPath> {
    (prop::option::of(urn()), name(), prop::option::of(name()))
        .prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
        .boxed()
}

fn relative_path() -> BoxedStrategy<AttrPath> {
    (name(), prop::option::of(name()))
        .prop_map(|(name, sub)| AttrPath {
            urn: None,
            name,
            sub,
        })
        .boxed()
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![Eq, Ne, Co, Sw, CompareOp::Ew, Gt, Ge, Lt, Le])
}

fn literal() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<u64>().prop_map(|n| CompValue::Number(n.into())),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(CompValue::Number)),
        any::<String>().prop_map(CompValue::String),
        r#"[a-z "\\\[\]()'\n\t\u{0}é😀]{0,12}"#.prop_map(CompValue::String),
    ]
}

fn leaf(path: BoxedStrategy<AttrPath>) -> BoxedStrategy<Filter> {
    prop_oneof![
        path.clone().prop_map(Filter::Present),
        (path, op(), literal()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
    ]
    .boxed()
}

fn combine(leaves: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    leaves
        .prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(not),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| and(l, r)),
                (inner.clone(), inner).prop_map(|(l, r)| or(l, r)),
            ]
        })
        .boxed()
}

fn filter() -> BoxedStrategy<Filter> {
    let value_path = (
        (prop::option::of(urn()), name()).prop_map(|(urn, name)| AttrPath {
            urn,
            name,
            sub: None,
        }),
        combine(leaf(relative_path())),
    )
        .prop_map(|(path, f)| Filter::ValuePath {
            path,
            filter: Box::new(f),
        });
    combine(prop_oneof![leaf(full_path()), value_path].boxed())
}

/// Attribute paths that exist in the user schema, and some that do not.
fn user_filter() -> BoxedStrategy<Filter> {
    let names = || {
        prop::sample::select(vec![
            "userName",
            "emails",
            "emails.value",
            "emails.type",
            "emails.primary",
            "name",
            "name.givenName",
            "meta.lastModified",
            "meta.created",
            "active",
            "id",
            "externalId",
            "schemas",
            "manager",
            "manager.value",
            "groups.$ref",
            "x509Certificates",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:core:2.0:User:title",
            "title",
            "nope",
            "name.nope",
            "type",
            "value",
            "primary",
        ])
        .prop_map(p)
        .boxed()
    };
    let value_path = (
        prop::sample::select(vec![
            "emails",
            "name",
            "addresses",
            "manager",
            "userName",
            "nope",
        ])
        .prop_map(p),
        combine(leaf(names())),
    )
        .prop_map(|(path, f)| Filter::ValuePath {
            path,
            filter: Box::new(f),
        });
    combine(prop_oneof![leaf(names()), value_path].boxed())
}

const SOUP: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "\"",
    "\"x\"",
    "\"a\\\"b\"",
    "\"\\u\"",
    "\"\\uD800\"",
    "\\",
    "not",
    "NOT",
    "and",
    "or",
    "pr",
    "eq",
    "EQ",
    "co",
    "gt",
    "title",
    "emails",
    ".value",
    ".",
    ":",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "1",
    "-1.5e3",
    "01",
    "true",
    "null",
    "jyoung",
    "é",
    "😀",
    "\t",
    "\n",
    "",
    "\"\"",
    "name.givenName",
    "emails[",
    "].",
    "$ref",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn display_parses_back_to_the_same_tree(f in filter()) {
        let text = f.to_string();
        prop_assert_eq!(parse(&text), Ok(f), "{}", text);
    }

    #[test]
    fn patch_paths_display_and_parse_back(
        attr in (prop::option::of(urn()), name()).prop_map(|(urn, name)| AttrPath { urn, name, sub: None }),
        f in prop::option::of(combine(leaf(relative_path()))),
        sub in prop::option::of(name()),
    ) {
        let path = PatchPath { attr, sub: sub.filter(|_| f.is_some()), filter: f };
        prop_assert_eq!(PatchPath::parse(&path.to_string()), Ok(path));
    }

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        check_any_input(&s)?;
    }

    #[test]
    fn printable_text_never_panics(s in r#"[ -~]{0,80}"#) {
        check_any_input(&s)?;
    }

    #[test]
    fn token_soup_never_panics(
        tokens in prop::collection::vec(prop::sample::select(SOUP), 0..30),
        glue in prop::sample::select(vec!["", " "]),
    ) {
        check_any_input(&tokens.join(glue))?;
    }

    #[test]
    fn evaluation_never_panics(f in user_filter()) {
        let schema = user();
        let _ = f.matches(&bjensen(), &schema);
        let _ = f.matches(&adele(), &schema);
        let _ = f.matches(&custom_user(), &custom());
        let _ = f.validate(&schema);
        let emails = schema.core.attribute("emails").unwrap();
        let _ = f.matches_element(&json!({"value": "a", "type": "work"}), emails);
        let _ = f.validate_element(emails);
        // A tree that validates evaluates the same after a trip through text.
        if f.validate(&schema).is_ok() {
            let back = parse(&f.to_string());
            prop_assert_eq!(back.as_ref(), Ok(&f));
        }
    }
}

/// Whatever the input: no panic, spans inside the input on character boundaries, and
/// anything that parses displays as text that parses back to the same tree.
fn check_any_input(s: &str) -> Result<(), TestCaseError> {
    match parse(s) {
        Ok(f) => prop_assert_eq!(parse(&f.to_string()), Ok(f)),
        Err(e) => {
            prop_assert!(
                e.span.start <= e.span.end && e.span.end <= s.len(),
                "{:?}",
                e
            );
            prop_assert!(s.is_char_boundary(e.span.start) && s.is_char_boundary(e.span.end));
            prop_assert!(!e.message.is_empty());
        }
    }
    match PatchPath::parse(s) {
        Ok(path) => prop_assert_eq!(PatchPath::parse(&path.to_string()), Ok(path)),
        Err(e) => prop_assert!(e.span.end <= s.len() && s.is_char_boundary(e.span.start)),
    }
    Ok(())
}
