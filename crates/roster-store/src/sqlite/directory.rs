//! The directory side of the SQLite store ([`DirectoryStore`]).

use async_trait::async_trait;
use roster_core::StoreError;
use roster_core::directory::{Directory, DirectoryGroup, DirectoryUser};
use roster_core::settings::Settings;
use roster_core::store::{
    AuditEntry, AuditQuery, DirectoryStore, GroupPage, GroupQuery, NewGroup, NewUser, OutcomeQuery,
    StoredSettings, SyncOptions, SyncOutcome, SyncReport, SyncRun, UserDetail, UserPage, UserQuery,
    WriteContext,
};
use time::OffsetDateTime;

use super::SqliteStore;

// In progress: each method is replaced by its implementation in the following commits.
fn in_progress() -> StoreError {
    StoreError::Unsupported("the directory side of the SQLite store is being written".into())
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn settings(&self, _connector_id: &str) -> Result<StoredSettings, StoreError> {
        Err(in_progress())
    }

    async fn set_settings(
        &self,
        _connector_id: &str,
        _settings: &Settings,
        _if_version: Option<i64>,
        _ctx: &WriteContext,
    ) -> Result<StoredSettings, StoreError> {
        Err(in_progress())
    }

    async fn directories(&self) -> Result<Vec<Directory>, StoreError> {
        Err(in_progress())
    }

    async fn reorder_directories(
        &self,
        _order: &[String],
        _ctx: &WriteContext,
    ) -> Result<Vec<Directory>, StoreError> {
        Err(in_progress())
    }

    async fn users(&self, _query: &UserQuery) -> Result<UserPage, StoreError> {
        Err(in_progress())
    }

    async fn user(&self, _username: &str) -> Result<Option<UserDetail>, StoreError> {
        Err(in_progress())
    }

    async fn groups(&self, _query: &GroupQuery) -> Result<GroupPage, StoreError> {
        Err(in_progress())
    }

    async fn create_user(
        &self,
        _directory: &str,
        _user: &NewUser,
        _ctx: &WriteContext,
    ) -> Result<DirectoryUser, StoreError> {
        Err(in_progress())
    }

    async fn create_group(
        &self,
        _directory: &str,
        _group: &NewGroup,
        _ctx: &WriteContext,
    ) -> Result<DirectoryGroup, StoreError> {
        Err(in_progress())
    }

    async fn add_member(
        &self,
        _directory: &str,
        _username: &str,
        _group: &str,
        _ctx: &WriteContext,
    ) -> Result<bool, StoreError> {
        Err(in_progress())
    }

    async fn remove_member(
        &self,
        _directory: &str,
        _username: &str,
        _group: &str,
        _ctx: &WriteContext,
    ) -> Result<bool, StoreError> {
        Err(in_progress())
    }

    async fn audit(&self, _query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        Err(in_progress())
    }

    async fn sync_runs(
        &self,
        _connector_id: &str,
        _since: Option<OffsetDateTime>,
        _limit: u32,
    ) -> Result<Vec<SyncRun>, StoreError> {
        Err(in_progress())
    }

    async fn sync_outcomes(&self, _query: &OutcomeQuery) -> Result<Vec<SyncOutcome>, StoreError> {
        Err(in_progress())
    }

    async fn preview(
        &self,
        _connector_id: &str,
        _options: &SyncOptions,
    ) -> Result<SyncReport, StoreError> {
        Err(in_progress())
    }

    async fn apply(
        &self,
        _connector_id: &str,
        _options: &SyncOptions,
        _ctx: &WriteContext,
    ) -> Result<SyncReport, StoreError> {
        Err(in_progress())
    }
}
