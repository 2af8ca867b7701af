//! The administration side of the store: admin accounts, console sessions, API tokens, the SCIM
//! request log and the dashboard's activity figures (see [`crate::admin`] for the types).
//!
//! It is a trait of its own, reached through [`Store::admin`](super::Store::admin), for the
//! same reason as [`DirectoryStore`](super::DirectoryStore): the SCIM hot path never needs it.
//!
//! The request log is written in batches ([`AdminStore::log_requests`]) by a background task,
//! never once per request: log writes must not contend with SCIM writes for the write lock.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::admin::{
    AdminAccount, ApiTokenRecord, ConnectorActivity, NewRequestLog, RequestLogEntry,
    RequestLogQuery, SessionRecord,
};

/// Admin accounts, sessions, API tokens and the request log.
#[async_trait]
pub trait AdminStore: Send + Sync {
    // ---- accounts ----

    /// Creates an account: [`StoreError::Conflict`] if the username is taken (compared
    /// case-insensitively).
    async fn create_admin(&self, account: &AdminAccount) -> Result<(), StoreError>;
    /// One account, by username (case-insensitive).
    async fn admin_account(&self, username: &str) -> Result<Option<AdminAccount>, StoreError>;
    /// Every account, by username.
    async fn admin_accounts(&self) -> Result<Vec<AdminAccount>, StoreError>;
    /// Replaces an account's password hash and ends its sessions: [`StoreError::NotFound`] if
    /// there is no such account.
    async fn set_admin_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<(), StoreError>;
    /// Deletes an account and its sessions: [`StoreError::NotFound`] if there is none.
    async fn delete_admin(&self, username: &str) -> Result<(), StoreError>;
    /// Records a successful login.
    async fn record_admin_login(
        &self,
        username: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    // ---- console sessions ----

    /// Stores a new session.
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// A session by the hash of its cookie, whether or not it has expired (the caller checks).
    async fn session(&self, id_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    /// Ends a session; ending one that does not exist is not an error.
    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Deletes sessions that expired before `now`; returns how many.
    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    // ---- API tokens ----

    /// Stores a new API token.
    async fn add_api_token(&self, token: &ApiTokenRecord) -> Result<(), StoreError>;
    /// An API token by its public id.
    async fn api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError>;
    /// Every API token, oldest first.
    async fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError>;
    /// Deletes an API token: [`StoreError::NotFound`] if there is none.
    async fn revoke_api_token(&self, id: &str) -> Result<(), StoreError>;
    /// Records that an API token was used.
    async fn touch_api_token(&self, id: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    // ---- the SCIM request log ----

    /// Appends requests to the log, in one transaction.
    async fn log_requests(&self, entries: &[NewRequestLog]) -> Result<(), StoreError>;
    /// Logged requests matching a query, newest first.
    async fn request_log(
        &self,
        query: &RequestLogQuery,
    ) -> Result<Vec<RequestLogEntry>, StoreError>;
    /// One logged request.
    async fn request_log_entry(&self, seq: i64) -> Result<Option<RequestLogEntry>, StoreError>;
    /// Deletes entries older than `before`; returns how many.
    async fn prune_request_log(&self, before: OffsetDateTime) -> Result<u64, StoreError>;

    // ---- the dashboard ----

    /// Every connector's activity, by connector id; `recent_errors` counts failed requests at
    /// or after `errors_since`.
    async fn connector_activity(
        &self,
        errors_since: OffsetDateTime,
    ) -> Result<Vec<ConnectorActivity>, StoreError>;
}
