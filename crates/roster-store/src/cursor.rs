//! Cursors for RFC 9865 paging.
//!
//! A cursor is opaque to the client but not to us: it names a position and carries a
//! fingerprint of the query it was issued for (resource type, filter, sort), so a cursor that
//! was not issued by this store, or is replayed with another query, is refused with
//! `invalidCursor` (RFC 9865 §2.3) rather than silently paging something else.
//!
//! Positions are backend-neutral: keyset positions on the creation sequence when there is no
//! `sortBy` (stable under inserts and deletes, and cheap at any depth), an offset otherwise.
//! Text form: `{tag}{number}.{fingerprint as 16 hex digits}`, with tag `a` (after sequence
//! number), `b` (before sequence number) or `o` (offset) — URL-safe as it stands.

use roster_core::StoreError;
use roster_core::store::{ResourceKind, ResourceQuery};

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// The resources created after this sequence number (forward keyset paging).
    After(i64),
    /// The resources created before this sequence number (backward keyset paging).
    Before(i64),
    /// The resources from this 0-based offset in the sorted result.
    Offset(u64),
}

/// The fingerprint of what a cursor pages through: FNV-1a over the query's shape. Stable across
/// processes and releases (unlike `std`'s hasher), so cursors survive a restart.
pub(crate) fn fingerprint(kind: ResourceKind, query: &ResourceQuery) -> u64 {
    let mut text = String::from(kind.as_str());
    text.push('\n');
    if let Some(filter) = &query.filter {
        text.push_str(&filter.to_string());
    }
    text.push('\n');
    if let Some(sort) = &query.sort_by {
        text.push_str(&sort.to_string().to_ascii_lowercase());
        text.push_str(if query.descending { " desc" } else { " asc" });
    }
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The text of a cursor.
pub(crate) fn encode(position: Position, fingerprint: u64) -> String {
    match position {
        Position::After(seq) => format!("a{seq}.{fingerprint:016x}"),
        Position::Before(seq) => format!("b{seq}.{fingerprint:016x}"),
        Position::Offset(n) => format!("o{n}.{fingerprint:016x}"),
    }
}

/// Reads a cursor issued for a query with `fingerprint`.
pub(crate) fn decode(text: &str, fingerprint: u64) -> Result<Position, StoreError> {
    let invalid = || StoreError::InvalidCursor;
    let (head, fp) = text.split_once('.').ok_or_else(invalid)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if fp.len() != 16 || u64::from_str_radix(fp, 16).map_err(|_| invalid())? != fingerprint {
        return Err(invalid());
    }
    let (tag, number) = head.split_at_checked(1).ok_or_else(invalid)?;
    if !digits(number) {
        return Err(invalid());
    }
    match tag {
        "a" => number.parse().map(Position::After),
        "b" => number.parse().map(Position::Before),
        "o" => number.parse().map(Position::Offset),
        _ => return Err(invalid()),
    }
    .map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::store::Load;
    use scim::query::Paging;

    fn query(filter: Option<&str>) -> ResourceQuery {
        ResourceQuery {
            filter: filter.map(|f| scim::filter::parse(f).unwrap()),
            sort_by: None,
            descending: false,
            paging: Paging::Cursor {
                cursor: None,
                count: 10,
            },
            load: Load::default(),
        }
    }

    #[test]
    fn cursors_round_trip() {
        let fp = fingerprint(ResourceKind::User, &query(None));
        for p in [
            Position::After(7),
            Position::Before(0),
            Position::Offset(u64::MAX),
        ] {
            assert_eq!(decode(&encode(p, fp), fp).unwrap(), p);
        }
    }

    #[test]
    fn foreign_or_replayed_cursors_are_refused() {
        let fp = fingerprint(ResourceKind::User, &query(None));
        let other = fingerprint(ResourceKind::User, &query(Some("userName eq \"x\"")));
        assert_ne!(fp, other);
        assert_ne!(fp, fingerprint(ResourceKind::Group, &query(None)));
        let c = encode(Position::After(3), fp);
        assert!(matches!(decode(&c, other), Err(StoreError::InvalidCursor)));
        for bad in [
            "",
            "a",
            "a3",
            "x3.0000000000000000",
            "a-3.0000000000000000",
            "a.0000000000000000",
            "a3.00",
            "VZUTiyhEQJ94IR",
            "a99999999999999999999.0000000000000000",
        ] {
            assert!(
                matches!(decode(bad, 0), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
    }

    #[test]
    fn keyword_case_does_not_change_the_fingerprint() {
        assert_eq!(
            fingerprint(ResourceKind::User, &query(Some("userName EQ \"x\""))),
            fingerprint(ResourceKind::User, &query(Some("userName eq \"x\"")))
        );
    }
}
