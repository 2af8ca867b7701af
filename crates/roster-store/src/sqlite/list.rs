//! List queries: filter, sort and page in SQL (RFC 7644 §3.4.2, RFC 9865).
//!
//! - Index paging is `LIMIT`/`OFFSET`; `totalResults` is a `COUNT(*)` with the same `WHERE`,
//!   skipped when the first page already holds every match (fewer than `count`), so the hot
//!   lookup of an IdP (`userName eq "…"`) is one indexed query. A lookup through a unique
//!   index (`filter::is_point_lookup`) matches at most one resource, so it never needs the
//!   count, and runs on the calling thread (`point`) when it can.
//! - Cursor paging without `sortBy` is keyset paging on the creation sequence (`seq > n`),
//!   stable while resources come and go; with `sortBy` the cursor holds an offset. Cursors are
//!   checked against the query they were issued for (see `crate::cursor`).
//! - The default order is creation order, the same whatever the page size (Okta relies on it).

use roster_core::StoreError;
use roster_core::store::{Load, ResourceKind, ResourcePage, ResourceQuery, StoredResource};
use scim::query::Paging;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::backend;
use super::filter::{Sql, is_point_lookup, order_by, where_clause};
use super::point::PointReads;
use super::resources::{COLUMNS, linked_column, resource_row, table};
use crate::cursor::{self, Position};

/// The parts of one list query.
struct Plan<'q> {
    connector_id: &'q str,
    kind: ResourceKind,
    filter: Option<Sql>,
    load: Load,
}

/// A keyset bound on the creation sequence.
#[derive(Clone, Copy)]
enum Keyset {
    After(i64),
    Before(i64),
}

impl Plan<'_> {
    fn where_(&self, qb: &mut QueryBuilder<Sqlite>) {
        qb.push(" WHERE r.connector_id = ");
        qb.push_bind(self.connector_id.to_owned());
        if let Some(filter) = &self.filter {
            qb.push(" AND (");
            filter.write_to(qb);
            qb.push(")");
        }
    }

    async fn count(&self, pool: &SqlitePool) -> Result<u64, StoreError> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM ");
        qb.push(table(self.kind));
        qb.push(" AS r");
        self.where_(&mut qb);
        let n: i64 = qb
            .build()
            .fetch_one(pool)
            .await
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn fetch(
        &self,
        pool: &SqlitePool,
        keyset: Option<Keyset>,
        order: &Sql,
        limit: u64,
        offset: u64,
    ) -> Result<Vec<(i64, StoredResource)>, StoreError> {
        let mut qb = self.select("SELECT ", keyset, order, limit, offset);
        let rows = qb.build().fetch_all(pool).await.map_err(backend)?;
        rows.iter()
            .map(|row| resource_row(row, self.kind, self.load))
            .collect()
    }

    /// The page query; `prefix` is `SELECT ` (or `EXPLAIN QUERY PLAN SELECT ` in tests).
    fn select(
        &self,
        prefix: &'static str,
        keyset: Option<Keyset>,
        order: &Sql,
        limit: u64,
        offset: u64,
    ) -> QueryBuilder<Sqlite> {
        let mut qb = QueryBuilder::<Sqlite>::new("");
        self.select_sql(prefix, keyset, order, limit, offset)
            .write_to(&mut qb);
        qb
    }

    /// The page query's text and values (see [`Plan::select`]).
    fn select_sql(
        &self,
        prefix: &'static str,
        keyset: Option<Keyset>,
        order: &Sql,
        limit: u64,
        offset: u64,
    ) -> Sql {
        let mut sql = Sql::default();
        sql.push(prefix);
        sql.push(COLUMNS);
        if let Some(linked) = linked_column(self.kind, self.load) {
            sql.push(linked);
        }
        sql.push(" FROM ");
        sql.push(table(self.kind));
        sql.push(" AS r WHERE r.connector_id = ");
        sql.bind_text(self.connector_id);
        if let Some(filter) = &self.filter {
            sql.push(" AND (");
            sql.append(filter);
            sql.push(")");
        }
        match keyset {
            Some(Keyset::After(seq)) => {
                sql.push(" AND r.seq > ");
                sql.bind_int(seq);
            }
            Some(Keyset::Before(seq)) => {
                sql.push(" AND r.seq < ");
                sql.bind_int(seq);
            }
            None => {}
        }
        sql.push(" ORDER BY ");
        sql.append(order);
        // `+?`, not `?`: SQLite feeds a bare bound LIMIT/OFFSET into the query planner, so
        // every new value re-prepared the statement (one re-prepare per Entra lookup). The
        // unary plus hides the value from the planner; the statement is prepared once.
        sql.push(" LIMIT +");
        sql.bind_int(i64::try_from(limit).unwrap_or(i64::MAX));
        if offset > 0 {
            sql.push(" OFFSET +");
            sql.bind_int(i64::try_from(offset).unwrap_or(i64::MAX));
        }
        sql
    }
}

pub(super) async fn query(
    pool: &SqlitePool,
    point: &PointReads,
    connector_id: &str,
    kind: ResourceKind,
    query: &ResourceQuery,
) -> Result<ResourcePage, StoreError> {
    let plan = Plan {
        connector_id,
        kind,
        filter: query
            .filter
            .as_ref()
            .map(|f| where_clause(f, kind, connector_id))
            .transpose()?,
        load: query.load,
    };
    let descending = query.descending && query.sort_by.is_some();
    let order = order_by(query.sort_by.as_ref(), descending, kind)?;
    let page = match &query.paging {
        Paging::Index { start_index, count } => {
            let offset = start_index.saturating_sub(1);
            // A lookup through a unique index matches at most one resource: from the first
            // index, the page holds every match and the total is its length. Read on this
            // thread when a point-read connection is free (`point`).
            let lookup = offset == 0
                && *count > 0
                && query
                    .filter
                    .as_ref()
                    .is_some_and(|f| is_point_lookup(f, kind));
            if lookup
                && let Some(items) = point.resources(
                    &plan.select_sql("SELECT ", None, &order, *count, 0),
                    kind,
                    plan.load,
                )
            {
                let items = items?;
                return Ok(ResourcePage {
                    total: items.len() as u64,
                    items: items.into_iter().map(|(_, r)| r).collect(),
                    next_cursor: None,
                    previous_cursor: None,
                });
            }
            let items = if *count > 0 {
                plan.fetch(pool, None, &order, *count, offset).await?
            } else {
                Vec::new()
            };
            let total = if offset == 0 && (items.len() as u64) < *count {
                items.len() as u64
            } else {
                plan.count(pool).await?
            };
            ResourcePage {
                total,
                items: items.into_iter().map(|(_, r)| r).collect(),
                next_cursor: None,
                previous_cursor: None,
            }
        }
        Paging::Cursor { cursor, count } => {
            cursor_page(pool, &plan, query, &order, cursor.as_deref(), *count).await?
        }
    };
    Ok(page)
}

async fn cursor_page(
    pool: &SqlitePool,
    plan: &Plan<'_>,
    query: &ResourceQuery,
    order: &Sql,
    cursor: Option<&str>,
    count: u64,
) -> Result<ResourcePage, StoreError> {
    let fp = cursor::fingerprint(plan.kind, query);
    let position = cursor.map(|c| cursor::decode(c, fp)).transpose()?;
    let encode = |p| Some(cursor::encode(p, fp));
    if count == 0 {
        // Only the total was asked for.
        return Ok(ResourcePage {
            total: plan.count(pool).await?,
            items: Vec::new(),
            next_cursor: None,
            previous_cursor: None,
        });
    }
    // One more than asked tells whether there is a page beyond.
    let (items, next_cursor, previous_cursor) = if query.sort_by.is_none() {
        match position {
            None | Some(Position::After(_)) => {
                let after = match position {
                    Some(Position::After(seq)) => Some(seq),
                    _ => None,
                };
                let mut items = plan
                    .fetch(pool, after.map(Keyset::After), order, count + 1, 0)
                    .await?;
                let more = items.len() as u64 > count;
                items.truncate(usize::try_from(count).unwrap_or(usize::MAX));
                let next = match items.last() {
                    Some((seq, _)) if more => encode(Position::After(*seq)),
                    _ => None,
                };
                let previous = match (after, items.first()) {
                    (None, _) => None,
                    (Some(_), Some((seq, _))) => encode(Position::Before(*seq)),
                    (Some(seq), None) => encode(Position::Before(seq.saturating_add(1))),
                };
                (items, next, previous)
            }
            Some(Position::Before(before)) => {
                // Walk backwards from `before`, then put the page in order.
                let mut qb_order = Sql::default();
                qb_order.push("r.seq DESC");
                let mut items = plan
                    .fetch(pool, Some(Keyset::Before(before)), &qb_order, count + 1, 0)
                    .await?;
                let more = items.len() as u64 > count;
                items.truncate(usize::try_from(count).unwrap_or(usize::MAX));
                items.reverse();
                let previous = match items.first() {
                    Some((seq, _)) if more => encode(Position::Before(*seq)),
                    _ => None,
                };
                let next = match items.last() {
                    Some((seq, _)) => encode(Position::After(*seq)),
                    None => encode(Position::After(before.saturating_sub(1))),
                };
                (items, next, previous)
            }
            Some(Position::Offset(_)) => return Err(StoreError::InvalidCursor),
        }
    } else {
        let offset = match position {
            None => 0,
            Some(Position::Offset(n)) => n,
            Some(_) => return Err(StoreError::InvalidCursor),
        };
        let mut items = plan.fetch(pool, None, order, count + 1, offset).await?;
        let more = items.len() as u64 > count;
        items.truncate(usize::try_from(count).unwrap_or(usize::MAX));
        let next = more.then(|| cursor::encode(Position::Offset(offset + count), fp));
        let previous = (offset > 0)
            .then(|| cursor::encode(Position::Offset(offset.saturating_sub(count)), fp));
        (items, next, previous)
    };
    let first_page_holds_all = position.is_none() && next_cursor.is_none();
    let total = if first_page_holds_all {
        items.len() as u64
    } else {
        plan.count(pool).await?
    };
    Ok(ResourcePage {
        total,
        items: items.into_iter().map(|(_, r)| r).collect(),
        next_cursor,
        previous_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;

    /// The query plan of a first page, one step per line.
    async fn plan_of(store: &SqliteStore, kind: ResourceKind, filter: Option<&str>) -> String {
        plan_loading(store, kind, filter, Load::default()).await
    }

    async fn plan_loading(
        store: &SqliteStore,
        kind: ResourceKind,
        filter: Option<&str>,
        load: Load,
    ) -> String {
        let filter = filter.map(|t| scim::filter::parse(t).unwrap());
        let plan = Plan {
            connector_id: "c",
            kind,
            filter: filter.as_ref().map(|f| where_clause(f, kind, "c").unwrap()),
            load,
        };
        let order = order_by(None, false, kind).unwrap();
        let mut qb = plan.select("EXPLAIN QUERY PLAN SELECT ", None, &order, 100, 0);
        let rows = qb.build().fetch_all(&store.pool).await.unwrap();
        rows.iter()
            .map(|r| r.get::<String, _>(3))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn idp_lookups_are_index_searches() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("plan.db")).await.unwrap();
        let user = ResourceKind::User;
        let group = ResourceKind::Group;
        for (kind, filter, index) in [
            (user, "userName eq \"bjensen\"", "scim_users_user_name"),
            (user, "externalId eq \"x\"", "scim_users_external_id"),
            (user, "id eq \"x\"", "sqlite_autoindex_scim_users_1"),
            (user, "displayName eq \"x\"", "scim_users_display_name"),
            (user, "emails.value eq \"a@b\"", "scim_user_emails_value"),
            (
                user,
                "emails[type eq \"work\"].value eq \"a@b\"",
                "scim_user_emails_value",
            ),
            (
                user,
                "userName eq \"a\" and externalId eq \"b\"",
                "scim_users_user_name",
            ),
            (group, "displayName eq \"x\"", "scim_groups_display_name"),
            (group, "externalId eq \"x\"", "scim_groups_external_id"),
            (
                group,
                "id eq \"g\" and members[value eq \"u\"]",
                "sqlite_autoindex_scim_groups_1",
            ),
            (group, "members[value eq \"u\"]", "scim_memberships_member"),
        ] {
            let plan = plan_of(&store, kind, Some(filter)).await;
            assert!(plan.contains(index), "{filter}:\n{plan}");
            assert!(!plan.contains("SCAN r"), "{filter}:\n{plan}");
        }
    }

    #[test]
    fn point_lookups_are_the_unique_columns() {
        let user = ResourceKind::User;
        let group = ResourceKind::Group;
        for (kind, filter, point) in [
            (user, "userName eq \"bjensen\"", true),
            (user, "USERNAME eq \"bjensen\"", true),
            (
                user,
                "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"b\"",
                true,
            ),
            (user, "id eq \"x\"", true),
            (user, "userName eq \"a\" and title co \"b\"", true),
            (user, "title co \"b\" and id eq \"a\"", true),
            (user, "userName eq \"a\" or id eq \"b\"", false),
            (user, "userName sw \"a\"", false),
            (user, "externalId eq \"x\"", false),
            (user, "displayName eq \"x\"", false),
            (user, "emails.value eq \"a@b\"", false),
            (user, "not (userName eq \"a\")", false),
            (group, "displayName eq \"x\"", true),
            (group, "id eq \"x\"", true),
            (group, "userName eq \"x\"", false),
            (group, "members[value eq \"u\"]", false),
        ] {
            let parsed = scim::filter::parse(filter).unwrap();
            assert_eq!(is_point_lookup(&parsed, kind), point, "{filter}");
        }
    }

    /// Point reads (on the calling thread) and the pool answer alike.
    #[tokio::test]
    async fn point_reads_agree_with_the_pool() {
        use roster_core::Store;
        use roster_core::connector::Connector;
        use roster_core::store::{Actor, NewResource, WriteContext};
        use serde_json::json;

        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("point.db"))
            .await
            .unwrap();
        let at = time::OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
        let connector = Connector {
            id: "c".into(),
            name: "C".into(),
            enabled: true,
            created_at: at,
        };
        store.create_connector(&connector).await.unwrap();
        let ctx = WriteContext::new(at, Actor::Cli);
        let body = |name: &str| {
            json!({"userName": name, "emails": [{"value": format!("{name}@example.com")}]})
                .as_object()
                .unwrap()
                .clone()
        };
        for (id, name) in [("u1", "Ann"), ("u2", "Bob")] {
            let new = NewResource {
                id: id.into(),
                body: body(name),
                members: Vec::new(),
            };
            store
                .create_resource("c", ResourceKind::User, new, &ctx)
                .await
                .unwrap();
        }
        let new = NewResource {
            id: "g1".into(),
            body: json!({"displayName": "Staff"}).as_object().unwrap().clone(),
            members: vec![scim::patch::Member {
                value: "u2".into(),
                display: None,
                kind: None,
            }],
        };
        store
            .create_resource("c", ResourceKind::Group, new, &ctx)
            .await
            .unwrap();

        let all = Load {
            members: true,
            groups: true,
        };
        for (kind, id) in [
            (ResourceKind::User, "u2"),
            (ResourceKind::Group, "g1"),
            (ResourceKind::User, "nobody"),
        ] {
            for load in [Load::default(), all] {
                let sql = super::super::resources::get_sql("c", kind, id, load);
                let point = store.point.resources(&sql, kind, load).unwrap().unwrap();
                let pool = super::super::resources::get(&store.pool, "c", kind, id, load)
                    .await
                    .unwrap();
                assert_eq!(point.into_iter().next().map(|(_, r)| r), pool, "{id}");
            }
        }
        let user = ResourceKind::User;
        let bob = scim::filter::parse("userName eq \"BOB\"").unwrap();
        let plan = Plan {
            connector_id: "c",
            kind: user,
            filter: Some(where_clause(&bob, user, "c").unwrap()),
            load: all,
        };
        let order = order_by(None, false, user).unwrap();
        let point = store
            .point
            .resources(&plan.select_sql("SELECT ", None, &order, 100, 0), user, all)
            .unwrap()
            .unwrap();
        let pool = plan.fetch(&store.pool, None, &order, 100, 0).await.unwrap();
        assert_eq!(point.len(), 1);
        assert_eq!(point[0].1.groups.as_ref().map(Vec::len), Some(1));
        assert_eq!(point, pool);
    }

    #[tokio::test]
    async fn the_default_order_needs_no_sort() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("plan.db")).await.unwrap();
        let plan = plan_of(&store, ResourceKind::User, None).await;
        assert!(plan.contains("scim_users_by_connector"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[tokio::test]
    async fn members_and_groups_load_through_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("plan.db")).await.unwrap();
        let load = Load {
            members: true,
            groups: true,
        };
        let plan = plan_loading(&store, ResourceKind::User, Some("userName eq \"x\""), load).await;
        assert!(
            plan.contains(
                "scim_memberships_member (connector_id=? AND member_id=? AND member_type=?)"
            ),
            "{plan}"
        );
        let plan = plan_loading(&store, ResourceKind::Group, Some("id eq \"x\""), load).await;
        assert!(
            plan.contains("PRIMARY KEY (connector_id=? AND group_id=?)"),
            "{plan}"
        );
    }
}
