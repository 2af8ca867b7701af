//! List query parameters: `filter`, `sortBy`, `sortOrder`, `startIndex`, `count`
//! (RFC 7644 §3.4.2), `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) and `cursor`
//! (RFC 9865 §2.1).
//!
//! [`ListQuery::from_pairs`] reads the decoded `(name, value)` pairs of a query string;
//! [`SearchRequest`](crate::message::SearchRequest) bodies are turned into the same pairs,
//! so `GET /Users?…` and `POST /Users/.search` cannot drift apart.
//!
//! Real clients shape the rules:
//!
//! - Parameter names are matched case-insensitively (RFC 7643 §2.1 makes attribute names
//!   case-insensitive, and clients are not consistent about `startIndex` / `StartIndex`).
//! - Unknown parameters are ignored: Entra ID appends flags such as `aadOptscim062020` to the
//!   tenant URL, so they arrive on every request.
//! - `count` is clamped, not rejected: a negative value means 0 (RFC 7644 §3.4.2.4), and a
//!   value above the maximum means the maximum (the provider "MAY return fewer results").
//!   `startIndex` below 1 means 1 (RFC 7644 §3.4.2.4). Only text that is not an integer is
//!   an error.
//! - With neither `startIndex` nor `cursor`, paging is by index: Entra ID and Okta both page
//!   by index and never send a cursor.

use std::num::IntErrorKind;

use crate::error::ScimError;
use crate::filter::Filter;
use crate::path::AttrPath;
use crate::projection::Projection;
use crate::schema::ResourceSchema;

/// How big a page may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// The page size when the client gives no `count`.
    pub default_count: u64,
    /// The largest page the provider returns; a larger `count` is lowered to it. Advertised
    /// as `filter.maxResults` and `pagination.maxPageSize` in `/ServiceProviderConfig`.
    pub max_count: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            default_count: 100,
            max_count: 1000,
        }
    }
}

/// `sortOrder` (RFC 7644 §3.4.2.3). Ascending unless the client says otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// `ascending`, the default.
    #[default]
    Ascending,
    /// `descending`.
    Descending,
}

/// Which page the client asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Paging {
    /// Index paging (RFC 7644 §3.4.2.4).
    Index {
        /// The 1-based index of the first result; at least 1.
        start_index: u64,
        /// The largest number of results to return; at most [`QueryLimits::max_count`].
        count: u64,
    },
    /// Cursor paging (RFC 9865 §2.1).
    Cursor {
        /// The cursor of the page asked for; `None` for the first page (the client sent an
        /// empty `cursor`).
        cursor: Option<String>,
        /// The largest number of results to return; at most [`QueryLimits::max_count`].
        count: u64,
    },
}

impl Paging {
    /// The page size asked for, after clamping.
    #[must_use]
    pub fn count(&self) -> u64 {
        match self {
            Self::Index { count, .. } | Self::Cursor { count, .. } => *count,
        }
    }
}

/// A validated list query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// `filter`, parsed.
    pub filter: Option<Filter>,
    /// `sortBy`, parsed; checked against the schema by [`ListQuery::validate`].
    pub sort_by: Option<AttrPath>,
    /// `sortOrder`.
    pub sort_order: SortOrder,
    /// The page asked for.
    pub paging: Paging,
    /// `attributes` / `excludedAttributes`.
    pub projection: Projection,
}

impl ListQuery {
    /// The first page of everything, unsorted, with default attributes.
    #[must_use]
    pub fn new(limits: &QueryLimits) -> Self {
        Self {
            filter: None,
            sort_by: None,
            sort_order: SortOrder::Ascending,
            paging: Paging::Index {
                start_index: 1,
                count: limits.default_count.min(limits.max_count),
            },
            projection: Projection::default(),
        }
    }

    /// Reads decoded query-string pairs (see the module docs for the rules).
    ///
    /// Errors: a non-integer `startIndex` or `count`, an unknown `sortOrder`, an invalid
    /// `sortBy`, `attributes` or `excludedAttributes` path, or both `cursor` and `startIndex`
    /// are `400 invalidValue`; a filter that does not parse is `400 invalidFilter`. When a
    /// parameter is repeated, the last one counts.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
        limits: &QueryLimits,
    ) -> Result<Self, ScimError> {
        let mut raw = RawParams::default();
        for (name, value) in pairs {
            let slot = match name.to_ascii_lowercase().as_str() {
                "filter" => &mut raw.filter,
                "sortby" => &mut raw.sort_by,
                "sortorder" => &mut raw.sort_order,
                "startindex" => &mut raw.start_index,
                "count" => &mut raw.count,
                "cursor" => &mut raw.cursor,
                "attributes" => &mut raw.attributes,
                "excludedattributes" => &mut raw.excluded_attributes,
                // Entra's `aadOptscim062020` and any other flag or cache-buster.
                _ => continue,
            };
            *slot = Some(value);
        }

        // An empty `filter=` or `sortBy=` is "not given": some clients template the URL.
        let filter = match non_empty(raw.filter.as_deref()) {
            Some(text) => Some(crate::filter::parse(text)?),
            None => None,
        };
        let sort_by = match non_empty(raw.sort_by.as_deref()) {
            Some(text) => Some(
                AttrPath::parse(text)
                    .map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))?,
            ),
            None => None,
        };
        let sort_order = match non_empty(raw.sort_order.as_deref()) {
            None => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(s) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be 'ascending' or 'descending', not '{s}'"
                )));
            }
        };

        let count = match non_empty(raw.count.as_deref()) {
            Some(text) => integer("count", text)?.clamp(0, limits.max_count),
            None => limits.default_count.min(limits.max_count),
        };
        let start_index = match non_empty(raw.start_index.as_deref()) {
            Some(text) => Some(integer("startIndex", text)?.max(1)),
            None => None,
        };
        let paging = match (raw.cursor, start_index) {
            (Some(_), Some(_)) => {
                return Err(ScimError::invalid_value(
                    "cursor and startIndex cannot be used together",
                ));
            }
            (Some(cursor), None) => Paging::Cursor {
                cursor: Some(cursor).filter(|c| !c.is_empty()),
                count,
            },
            (None, start) => Paging::Index {
                start_index: start.unwrap_or(1),
                count,
            },
        };

        let projection = Projection::parse(
            raw.attributes.as_deref(),
            raw.excluded_attributes.as_deref(),
        )?;

        Ok(Self {
            filter,
            sort_by,
            sort_order,
            paging,
            projection,
        })
    }

    /// Checks the query against the resource type it runs on: the filter's paths and
    /// operators ([`Filter::validate`], `400 invalidFilter`), and `sortBy`, which must name
    /// one of its attributes (`400 invalidValue` naming it otherwise).
    ///
    /// `attributes` / `excludedAttributes` naming unknown attributes are not errors: RFC 7644
    /// does not make them so, and clients probe with attributes a server may not have.
    pub fn validate(&self, schema: &ResourceSchema) -> Result<(), ScimError> {
        if let Some(filter) = &self.filter {
            filter.validate(schema)?;
        }
        if let Some(path) = &self.sort_by
            && schema.resolve(path).is_none()
        {
            return Err(ScimError::invalid_value(format!(
                "sortBy '{path}' is not an attribute of {}",
                schema.name
            )));
        }
        Ok(())
    }
}

/// The recognised parameters, as sent.
#[derive(Default)]
struct RawParams {
    filter: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    cursor: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// An integer parameter, clamped to `0..=u64::MAX`: negative values and negative overflow
/// become 0, positive overflow becomes `u64::MAX` (the caller clamps further).
fn integer(name: &str, text: &str) -> Result<u64, ScimError> {
    match text.parse::<i64>() {
        Ok(n) => Ok(u64::try_from(n).unwrap_or(0)),
        Err(e) => match e.kind() {
            IntErrorKind::PosOverflow => Ok(u64::MAX),
            IntErrorKind::NegOverflow => Ok(0),
            _ => Err(ScimError::invalid_value(format!(
                "{name} must be an integer, not '{text}'"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;

    fn query(pairs: &[(&str, &str)]) -> Result<ListQuery, ScimError> {
        ListQuery::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            &QueryLimits::default(),
        )
    }

    fn index(start_index: u64, count: u64) -> Paging {
        Paging::Index { start_index, count }
    }

    #[test]
    fn defaults_to_the_first_index_page() {
        let q = query(&[]).unwrap();
        assert_eq!(q, ListQuery::new(&QueryLimits::default()));
        assert_eq!(q.paging, index(1, 100));
        assert_eq!(q.sort_order, SortOrder::Ascending);
        assert!(q.filter.is_none() && q.sort_by.is_none());
    }

    #[test]
    fn names_are_case_insensitive_and_unknown_ones_ignored() {
        let q = query(&[
            ("StartIndex", "6"),
            ("COUNT", "5"),
            ("aadOptscim062020", ""),
            ("SortOrder", "Descending"),
        ])
        .unwrap();
        assert_eq!(q.paging, index(6, 5));
        assert_eq!(q.sort_order, SortOrder::Descending);
    }

    #[test]
    fn count_and_start_index_are_clamped() {
        assert_eq!(query(&[("count", "-5")]).unwrap().paging, index(1, 0));
        assert_eq!(query(&[("count", "5000")]).unwrap().paging, index(1, 1000));
        assert_eq!(
            query(&[("count", "99999999999999999999999")])
                .unwrap()
                .paging,
            index(1, 1000)
        );
        assert_eq!(query(&[("startIndex", "0")]).unwrap().paging, index(1, 100));
        assert_eq!(
            query(&[("startIndex", "-3")]).unwrap().paging,
            index(1, 100)
        );
        assert_eq!(
            query(&[("startIndex", " 11 ")]).unwrap().paging,
            index(11, 100)
        );
    }

    #[test]
    fn default_count_never_exceeds_the_maximum() {
        let limits = QueryLimits {
            default_count: 500,
            max_count: 50,
        };
        let q = ListQuery::from_pairs(Vec::new(), &limits).unwrap();
        assert_eq!(q.paging.count(), 50);
    }

    #[test]
    fn non_numbers_are_invalid_values() {
        for (name, value) in [("count", "ten"), ("startIndex", "1.5"), ("count", "0x10")] {
            let e = query(&[(name, value)]).unwrap_err();
            assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)));
            assert!(e.detail.contains(name), "{}", e.detail);
        }
    }

    #[test]
    fn sort_order_must_be_known() {
        let e = query(&[("sortOrder", "up")]).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert_eq!(
            query(&[("sortOrder", "ASCENDING")]).unwrap().sort_order,
            SortOrder::Ascending
        );
    }

    #[test]
    fn cursor_paging() {
        let q = query(&[("cursor", ""), ("count", "2")]).unwrap();
        assert_eq!(
            q.paging,
            Paging::Cursor {
                cursor: None,
                count: 2
            }
        );
        let q = query(&[("Cursor", "VZUTiyhEQJ94IR")]).unwrap();
        assert_eq!(
            q.paging,
            Paging::Cursor {
                cursor: Some("VZUTiyhEQJ94IR".into()),
                count: 100
            }
        );
        let e = query(&[("cursor", "abc"), ("startIndex", "1")]).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn projection_parameters_are_comma_separated() {
        let q = query(&[("excludedAttributes", "members, meta")]).unwrap();
        assert_eq!(
            q.projection.excluded,
            [AttrPath::attr("members"), AttrPath::attr("meta")]
        );
        let q = query(&[("ATTRIBUTES", "userName,name.givenName")]).unwrap();
        assert_eq!(
            q.projection.attributes,
            [
                AttrPath::attr("userName"),
                AttrPath::sub_attr("name", "givenName")
            ]
        );
        let e = query(&[("attributes", "user name")]).unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn sort_by_is_parsed_and_validated_against_the_schema() {
        let user = ResourceSchema::user();
        let q = query(&[("sortBy", "name.familyName")]).unwrap();
        assert_eq!(q.sort_by, Some(AttrPath::sub_attr("name", "familyName")));
        assert!(q.validate(&user).is_ok());

        let q = query(&[("sortBy", "shoeSize")]).unwrap();
        let e = q.validate(&user).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)));
        assert!(e.detail.contains("shoeSize"), "{}", e.detail);

        let e = query(&[("sortBy", "not a path")]).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn filters_are_parsed_and_validated() {
        let user = ResourceSchema::user();
        let q = query(&[("filter", "userName eq \"bjensen\"")]).unwrap();
        assert!(matches!(q.filter, Some(Filter::Compare { .. })));
        assert!(q.validate(&user).is_ok());

        let e = query(&[("filter", "userName eq")]).unwrap_err();
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(ScimType::InvalidFilter))
        );

        let q = query(&[("FILTER", "shoeSize eq 44")]).unwrap();
        let e = q.validate(&user).unwrap_err();
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(ScimType::InvalidFilter))
        );
    }

    #[test]
    fn empty_parameters_count_as_absent() {
        let q = query(&[
            ("filter", ""),
            ("sortBy", " "),
            ("count", ""),
            ("attributes", ""),
        ])
        .unwrap();
        assert_eq!(q, ListQuery::new(&QueryLimits::default()));
    }
}
