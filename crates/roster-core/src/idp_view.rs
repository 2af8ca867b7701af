//! The SCIM service over the IdP view (RFC 7644 §3).
//!
//! [`IdpView`] is what SCIM handlers call: one method per SCIM operation, each taking the
//! request as the client sent it and returning the response body, or the [`ScimError`] to
//! answer with. It normalises what IdPs send ([`scim::dialect`]), assigns ids and times,
//! renders `meta` and ETags, and leaves storage to the [`Store`].

use std::collections::HashMap;
use std::sync::Arc;

use scim::ScimError;
use scim::bulk::{BulkLimits, BulkMethod, BulkOperationResponse, BulkRequest, BulkResponse};
use scim::message::{ListResponse, SearchRequest};
use scim::patch::{Member, PatchOptions};
use scim::path::AttrPath;
use scim::projection::Projection;
use scim::query::{ListQuery, Paging, QueryLimits, SortOrder};
use serde_json::{Map, Value};

use crate::clock::{Clock, IdSource, rfc3339};
use crate::store::{
    Actor, Load, NewResource, ResourceKind, ResourceQuery, Store, StoredResource, Update,
    WriteContext,
};

/// Which connector a request is for, the SCIM base URL it was reached at, and the request's
/// id (`x-request-id`), which the audit log records for every directory change it causes.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// The connector's id.
    pub connector_id: &'a str,
    /// `{public_url}/scim/v2/{connector_id}`, without a trailing slash.
    pub base_url: &'a str,
    /// The request's id, if it has one.
    pub request_id: Option<&'a str>,
}

impl Endpoint<'_> {
    fn location(&self, kind: ResourceKind, id: &str) -> String {
        format!("{}/{}/{id}", self.base_url, kind.endpoint())
    }
}

/// A resource as answered: its JSON, and what goes in the `ETag` and `Location` headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The response body.
    pub body: Value,
    /// The resource's version.
    pub version: i64,
    /// `meta.location`.
    pub location: String,
}

impl Rendered {
    /// The `ETag` header and `meta.version`: a weak tag on the version number.
    #[must_use]
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// One entity tag of an `If-Match` / `If-None-Match` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// `*`: any version.
    Any,
    /// A tag this server issued (`W/"3"`, or its strong form `"3"`).
    Version(i64),
    /// Anything else: it can never match.
    Foreign,
}

/// Reads one entity tag.
#[must_use]
pub fn parse_etag(tag: &str) -> Tag {
    let t = tag.trim();
    if t == "*" {
        return Tag::Any;
    }
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|v| v.parse().ok())
        .map_or(Tag::Foreign, Tag::Version)
}

/// Whether an `If-None-Match` header matches `version` (then a GET answers 304).
#[must_use]
pub fn none_match(header: &str, version: i64) -> bool {
    header
        .split(',')
        .map(parse_etag)
        .any(|tag| tag == Tag::Any || tag == Tag::Version(version))
}

/// Limits the service enforces and advertises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Page sizes.
    pub query: QueryLimits,
    /// Bulk request sizes.
    pub bulk: BulkLimits,
}

/// The SCIM service over the IdP view.
#[derive(Debug, Clone)]
pub struct IdpView {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    limits: Limits,
}

/// Turns an `If-Match` header into the version the store must find.
fn if_match(header: Option<&str>) -> Result<Option<i64>, ScimError> {
    match header.map(parse_etag) {
        None | Some(Tag::Any) => Ok(None),
        Some(Tag::Version(v)) => Ok(Some(v)),
        Some(Tag::Foreign) => Err(ScimError::new(
            412,
            None,
            "If-Match does not name a version of this resource",
        )),
    }
}

impl IdpView {
    /// A service over `store`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        limits: Limits,
    ) -> Self {
        Self {
            store,
            clock,
            ids,
            limits,
        }
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The store underneath.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock the service writes with.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A write of this request, now, by the connector's IdP.
    fn write_context(&self, ep: &Endpoint<'_>) -> WriteContext {
        WriteContext {
            at: self.clock.now(),
            actor: Actor::Connector(ep.connector_id.to_owned()),
            request_id: ep.request_id.map(str::to_owned),
        }
    }

    /// What a projection needs loaded for this kind.
    fn load(kind: ResourceKind, projection: &Projection) -> Load {
        let schema = kind.schema();
        match kind {
            ResourceKind::Group => Load {
                members: projection.includes(&AttrPath::attr("members"), schema),
                groups: false,
            },
            ResourceKind::User => Load {
                members: false,
                groups: projection.includes(&AttrPath::attr("groups"), schema),
            },
        }
    }

    /// The full JSON of a stored resource, then projected.
    fn render(
        ep: &Endpoint<'_>,
        kind: ResourceKind,
        r: StoredResource,
        projection: &Projection,
    ) -> Rendered {
        let location = ep.location(kind, &r.id);
        let mut body = r.body;
        let mut out = Map::with_capacity(body.len() + 3);
        out.insert(
            "schemas".into(),
            body.shift_remove("schemas").unwrap_or_else(|| {
                Value::Array(vec![Value::String(kind.schema().core.id.clone())])
            }),
        );
        out.insert("id".into(), Value::String(r.id));
        // The stored body is the resource's own: moved, not copied.
        out.extend(body);
        if let Some(members) = &r.members {
            let list = members
                .iter()
                .map(|m| {
                    let mut v = m.to_json();
                    if let Value::Object(o) = &mut v {
                        let ty = m.kind.as_deref().unwrap_or("User");
                        let endpoint = if ty.eq_ignore_ascii_case("Group") {
                            "Groups"
                        } else {
                            "Users"
                        };
                        o.insert(
                            "$ref".into(),
                            Value::String(format!("{}/{endpoint}/{}", ep.base_url, m.value)),
                        );
                    }
                    v
                })
                .collect();
            out.insert("members".into(), Value::Array(list));
        }
        if let Some(groups) = r.groups.as_ref().filter(|g| !g.is_empty()) {
            let list = groups
                .iter()
                .map(|g| {
                    serde_json::json!({
                        "value": g.id,
                        "$ref": ep.location(ResourceKind::Group, &g.id),
                        "display": g.display,
                        "type": "direct",
                    })
                })
                .collect();
            out.insert("groups".into(), Value::Array(list));
        }
        out.insert(
            "meta".into(),
            serde_json::json!({
                "resourceType": kind.as_str(),
                "created": rfc3339(r.created),
                "lastModified": rfc3339(r.last_modified),
                "location": location,
                "version": etag(r.version),
            }),
        );
        let body = Value::Object(out);
        let body = if projection.is_default() {
            body
        } else {
            projection.apply(&body, kind.schema())
        };
        Rendered {
            body,
            version: r.version,
            location,
        }
    }

    /// Splits a group's `members` out of a normalised body.
    fn take_members(
        kind: ResourceKind,
        body: &mut Map<String, Value>,
    ) -> Result<Option<Vec<Member>>, ScimError> {
        if kind != ResourceKind::Group {
            return Ok(None);
        }
        match body.remove("members") {
            Some(v) => Ok(Some(Member::list_from_json(&v)?)),
            None => Ok(None),
        }
    }

    /// `POST /Users`, `POST /Groups` (RFC 7644 §3.3): 201 with the resource.
    pub async fn create(
        &self,
        ep: &Endpoint<'_>,
        kind: ResourceKind,
        body: Value,
        projection: &Projection,
    ) -> Result<Rendered, ScimError> {
        let mut body = scim::dialect::normalize_resource(body, kind.schema())?;
        let members = Self::take_members(kind, &mut body)?.unwrap_or_default();
        let new = NewResource {
            id: self.ids.new_id(),
            body,
            members,
        };
        let no_members = kind == ResourceKind::Group && new.members.is_empty();
        let mut stored = self
            .store
            .create_resource(ep.connector_id, kind, new, &self.write_context(ep))
            .await?;
        // A store returns no member list when there was none to write; a new group's
        // membership is known all the same, and the 201 must show what a GET will (`[]`, as
        // in Entra's Learn example), not omit it.
        if no_members && stored.members.is_none() {
            stored.members = Some(Vec::new());
        }
        Ok(Self::render(ep, kind, stored, projection))
    }

    /// `GET /Users/{id}`, `GET /Groups/{id}` (RFC 7644 §3.4.1).
    pub async fn get(
        &self,
        ep: &Endpoint<'_>,
        kind: ResourceKind,
        id: &str,
        projection: &Projection,
    ) -> Result<Rendered, ScimError> {
        let stored = self
            .store
            .get_resource(ep.connector_id, kind, id, Self::load(kind, projection))
            .await?
            .ok_or_else(|| not_found(kind, id))?;
        Ok(Self::render(ep, kind, stored, projection))
    }

    /// `GET /Users`, `GET /Groups` with a query (RFC 7644 §3.4.2): a ListResponse.
    pub async fn list(
        &self,
        ep: &Endpoint<'_>,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<ListResponse, ScimError> {
        query.validate(kind.schema())?;
        let rq = ResourceQuery {
            filter: query.filter.clone(),
            sort_by: query.sort_by.clone(),
            descending: query.sort_order == SortOrder::Descending,
            paging: query.paging.clone(),
            load: Self::load(kind, &query.projection),
        };
        let mut page = self
            .store
            .query_resources(ep.connector_id, kind, &rq)
            .await?;
        let resources: Vec<Value> = std::mem::take(&mut page.items)
            .into_iter()
            .map(|r| Self::render(ep, kind, r, &query.projection).body)
            .collect();
        let response = match &query.paging {
            Paging::Index { start_index, .. } => {
                ListResponse::index(resources, page.total, *start_index)
            }
            Paging::Cursor { .. } => ListResponse::cursor(
                resources,
                Some(page.total),
                page.next_cursor,
                page.previous_cursor,
            ),
        };
        Ok(response)
    }

    /// `POST /Users/.search`, `POST /Groups/.search`, and `POST /.search` across both when
    /// `kind` is `None` (RFC 7644 §3.4.3).
    pub async fn search(
        &self,
        ep: &Endpoint<'_>,
        kind: Option<ResourceKind>,
        body: &Value,
    ) -> Result<ListResponse, ScimError> {
        let query = SearchRequest::from_json(body)?.into_query(&self.limits.query)?;
        if let Some(kind) = kind {
            return self.list(ep, kind, &query).await;
        }
        self.search_root(ep, &query).await
    }

    /// A root search: users first, then groups, paged as one list. A filter that names an
    /// attribute only one type has searches that type only.
    async fn search_root(
        &self,
        ep: &Endpoint<'_>,
        query: &ListQuery,
    ) -> Result<ListResponse, ScimError> {
        let Paging::Index { start_index, count } = query.paging else {
            return Err(ScimError::invalid_value(
                "cursor paging is not supported for a search across resource types",
            ));
        };
        let kinds: Vec<ResourceKind> = [ResourceKind::User, ResourceKind::Group]
            .into_iter()
            .filter(|k| query.validate(k.schema()).is_ok())
            .collect();
        if kinds.is_empty() {
            query.validate(ResourceKind::User.schema())?;
        }
        let mut resources = Vec::new();
        let mut total = 0;
        let mut skip = start_index - 1;
        let mut want = count;
        for kind in kinds {
            let rq = ResourceQuery {
                filter: query.filter.clone(),
                sort_by: query.sort_by.clone(),
                descending: query.sort_order == SortOrder::Descending,
                paging: Paging::Index {
                    start_index: skip + 1,
                    count: want,
                },
                load: Self::load(kind, &query.projection),
            };
            let page = self
                .store
                .query_resources(ep.connector_id, kind, &rq)
                .await?;
            total += page.total;
            skip = skip.saturating_sub(page.total);
            want -= page.items.len() as u64;
            resources.extend(
                page.items
                    .into_iter()
                    .map(|r| Self::render(ep, kind, r, &query.projection).body),
            );
        }
        Ok(ListResponse::index(resources, total, start_index))
    }

    /// `PUT /Users/{id}`, `PUT /Groups/{id}` (RFC 7644 §3.5.1).
    ///
    /// Read-only attributes in the body (`id`, `meta`, `groups`) are ignored, as Okta sends
    /// them back. A group PUT without `members` keeps the members it has: only an explicit
    /// list (possibly empty) replaces them, so a PUT that renames never empties a group.
    pub async fn replace(
        &self,
        ep: &Endpoint<'_>,
        kind: ResourceKind,
        id: &str,
        body: Value,
        if_match_header: Option<&str>,
        projection: &Projection,
    ) -> Result<Rendered, ScimError> {
        let mut body = scim::dialect::normalize_resource(body, kind.schema())?;
        let members = Self::take_members(kind, &mut body)?;
        let update = Update::Replace { body, members };
        let updated = self
            .store
            .update_resource(
                ep.connector_id,
                kind,
                id,
                if_match(if_match_header)?,
                update,
                &self.write_context(ep),
            )
            .await
            .map_err(|e| store_error(e, kind, id))?;
        self.reread(ep, kind, updated.resource, projection).await
    }

    /// Renders an updated resource, loading members or groups if the projection shows them.
    async fn reread(
        &self,
        ep: &Endpoint<'_>,
        kind: ResourceKind,
        resource: StoredResource,
        projection: &Projection,
    ) -> Result<Rendered, ScimError> {
        let load = Self::load(kind, projection);
        let resource = if load == Load::default() {
            resource
        } else {
            self.store
                .get_resource(ep.connector_id, kind, &resource.id, load)
                .await?
                .ok_or_else(|| not_found(kind, &resource.id))?
        };
        Ok(Self::render(ep, kind, resource, projection))
    }

    /// `PATCH /Users/{id}`, `PATCH /Groups/{id}` (RFC 7644 §3.5.2).
    ///
    /// Returns the resource, rendered without members: a group's membership is changed as a
    /// delta, and reading back a large member list is what a PATCH must not cost. Handlers
    /// answer a group PATCH with 204, as Entra ID recommends.
    pub async fn patch(
        &self,
        ep: &Endpoint<'_>,
        kind: ResourceKind,
        id: &str,
        body: Value,
        if_match_header: Option<&str>,
        projection: &Projection,
    ) -> Result<Rendered, ScimError> {
        let schema = kind.schema();
        // Parse and normalise before taking the write lock: a malformed request costs nothing.
        let ops = scim::dialect::normalize_patch(&body, schema)?;
        let resource_id = id.to_owned();
        let options = PatchOptions {
            members_as_delta: kind == ResourceKind::Group,
        };
        let apply: crate::store::PatchFn = Box::new(move |body: &mut Map<String, Value>| {
            // `id` takes part so that an Okta rename that echoes it is recognised as a no-op.
            body.insert("id".into(), Value::String(resource_id.clone()));
            let outcome = scim::patch::apply_ops(body, &ops, schema, options);
            body.remove("id");
            outcome
        });
        let update = Update::Patch { apply };
        let updated = self
            .store
            .update_resource(
                ep.connector_id,
                kind,
                id,
                if_match(if_match_header)?,
                update,
                &self.write_context(ep),
            )
            .await
            .map_err(|e| store_error(e, kind, id))?;
        if kind == ResourceKind::Group && projection.is_default() {
            return Ok(Self::render(
                ep,
                kind,
                updated.resource,
                &Projection::default(),
            ));
        }
        self.reread(ep, kind, updated.resource, projection).await
    }

    /// `DELETE /Users/{id}`, `DELETE /Groups/{id}` (RFC 7644 §3.6).
    pub async fn delete(
        &self,
        ep: &Endpoint<'_>,
        kind: ResourceKind,
        id: &str,
        if_match_header: Option<&str>,
    ) -> Result<(), ScimError> {
        self.store
            .delete_resource(
                ep.connector_id,
                kind,
                id,
                if_match(if_match_header)?,
                &self.write_context(ep),
            )
            .await
            .map_err(|e| store_error(e, kind, id))
    }

    /// `POST /Bulk` (RFC 7644 §3.7).
    ///
    /// Operations run one by one, each in its own transaction. An operation that refers to a
    /// `bulkId` waits until the operation that defines it has run; operations left waiting on
    /// a `bulkId` that is never defined, or on each other, fail with 409 `invalidValue`.
    /// `failOnErrors` stops processing after that many errors.
    pub async fn bulk(&self, ep: &Endpoint<'_>, body: &Value) -> Result<Value, ScimError> {
        let request: BulkRequest = serde_json::from_value(body.clone())
            .map_err(|e| ScimError::invalid_syntax(format!("invalid BulkRequest: {e}")))?;
        self.limits.bulk.check(&request)?;
        let mut pending: Vec<_> = request.operations.iter().cloned().enumerate().collect();
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut results: Vec<(usize, BulkOperationResponse)> = Vec::new();
        let mut errors = 0u32;
        while !pending.is_empty() {
            let ready = pending
                .iter()
                .position(|(_, op)| op.references().iter().all(|r| ids.contains_key(r)));
            let Some(pos) = ready else {
                for (i, op) in pending.drain(..) {
                    let e = ScimError::new(
                        409,
                        Some(scim::ScimType::InvalidValue),
                        format!(
                            "unresolved bulkId reference(s): {}",
                            op.references().join(", ")
                        ),
                    );
                    results.push((i, BulkOperationResponse::error(&op, &e, None)));
                }
                break;
            };
            let (i, mut op) = pending.remove(pos);
            let response = match op.resolve(&ids) {
                Ok(()) => self.bulk_one(ep, &op).await,
                Err(e) => Err((e, None)),
            };
            match response {
                Ok((status, location, version, id)) => {
                    if let (Some(bulk_id), Some(id)) = (&op.bulk_id, id) {
                        ids.insert(bulk_id.clone(), id);
                    }
                    results.push((
                        i,
                        BulkOperationResponse::success(&op, status, location, version),
                    ));
                }
                Err((e, location)) => {
                    errors += 1;
                    results.push((i, BulkOperationResponse::error(&op, &e, location)));
                    if request.should_stop(errors) {
                        break;
                    }
                }
            }
        }
        let response = BulkResponse {
            operations: results.into_iter().map(|(_, r)| r).collect(),
        };
        Ok(serde_json::to_value(response).unwrap_or_default())
    }

    /// One bulk operation: (status, location, version, new id) or (error, location).
    async fn bulk_one(
        &self,
        ep: &Endpoint<'_>,
        op: &scim::bulk::BulkOperation,
    ) -> Result<(u16, Option<String>, Option<String>, Option<String>), (ScimError, Option<String>)>
    {
        let path = op.path.trim_start_matches('/');
        let (segment, id) = match path.split_once('/') {
            Some((s, id)) => (s, Some(id)),
            None => (path, None),
        };
        let kind = if segment.eq_ignore_ascii_case("Users") {
            ResourceKind::User
        } else if segment.eq_ignore_ascii_case("Groups") {
            ResourceKind::Group
        } else {
            return Err((
                ScimError::invalid_path(format!("unknown bulk path '{}'", op.path)),
                None,
            ));
        };
        let location = id.map(|id| ep.location(kind, id));
        let fail = |e: ScimError| (e, location.clone());
        let data = || {
            op.data
                .clone()
                .ok_or_else(|| ScimError::invalid_syntax("the operation has no 'data'"))
        };
        let none = Projection::default();
        match (op.method, id) {
            (BulkMethod::Post, None) => {
                let r = self
                    .create(ep, kind, data().map_err(fail)?, &none)
                    .await
                    .map_err(fail)?;
                let id = r.body.get("id").and_then(Value::as_str).map(str::to_owned);
                Ok((201, Some(r.location.clone()), Some(r.etag()), id))
            }
            (BulkMethod::Put, Some(id)) => {
                let r = self
                    .replace(
                        ep,
                        kind,
                        id,
                        data().map_err(fail)?,
                        op.version.as_deref(),
                        &none,
                    )
                    .await
                    .map_err(fail)?;
                Ok((200, Some(r.location.clone()), Some(r.etag()), None))
            }
            (BulkMethod::Patch, Some(id)) => {
                let r = self
                    .patch(
                        ep,
                        kind,
                        id,
                        data().map_err(fail)?,
                        op.version.as_deref(),
                        &none,
                    )
                    .await
                    .map_err(fail)?;
                Ok((200, Some(r.location.clone()), Some(r.etag()), None))
            }
            (BulkMethod::Delete, Some(id)) => {
                self.delete(ep, kind, id, op.version.as_deref())
                    .await
                    .map_err(fail)?;
                Ok((204, location.clone(), None, None))
            }
            _ => Err(fail(ScimError::invalid_path(format!(
                "'{}' cannot be used with {}",
                op.path,
                op.method.as_str()
            )))),
        }
    }
}

fn not_found(kind: ResourceKind, id: &str) -> ScimError {
    ScimError::not_found(format!("{} '{id}' not found", kind.as_str()))
}

fn store_error(e: crate::StoreError, kind: ResourceKind, id: &str) -> ScimError {
    match e {
        crate::StoreError::NotFound => not_found(kind, id),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_parse_in_weak_and_strong_form() {
        assert_eq!(parse_etag("W/\"3\""), Tag::Version(3));
        assert_eq!(parse_etag("\"3\""), Tag::Version(3));
        assert_eq!(parse_etag("*"), Tag::Any);
        assert_eq!(parse_etag("W/\"x\""), Tag::Foreign);
        assert!(none_match("W/\"1\", W/\"2\"", 2));
        assert!(!none_match("W/\"1\"", 2));
        assert!(none_match("*", 7));
    }
}
