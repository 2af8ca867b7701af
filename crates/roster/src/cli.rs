//! The command line (clap).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Roster: a SCIM 2.0 user-sync server.
///
/// Identity providers (Microsoft Entra ID, Okta, …) provision users and groups into Roster's
/// connectors over SCIM 2.0. Create a connector, give its SCIM base URL and token to the IdP,
/// and run `roster serve`.
///
/// Exit codes: 0 success, 1 failure (the message says why), 2 invalid command line.
#[derive(Debug, Parser)]
#[command(name = "roster", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes. Each is also read from the configuration file and from a
/// `ROSTER_*` environment variable; the flag wins over the variable, which wins over the file.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Database URL [default: sqlite://roster.db]
    #[arg(
        long = "database",
        global = true,
        env = "ROSTER_DATABASE_URL",
        value_name = "URL"
    )]
    pub(crate) database_url: Option<String>,

    /// Configuration file (TOML)
    #[arg(long, global = true, env = "ROSTER_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// The URL IdPs reach Roster at; SCIM base URLs are {public-url}/scim/v2/{connector}
    /// [default: http://{listen}]
    #[arg(long, global = true, env = "ROSTER_PUBLIC_URL", value_name = "URL")]
    pub(crate) public_url: Option<String>,

    /// Log format
    #[arg(long, global = true, env = "ROSTER_LOG_FORMAT", value_name = "FORMAT")]
    pub(crate) log_format: Option<LogFormat>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server
    Serve(ServeArgs),
    /// Manage connectors, their tokens and their sync settings
    #[command(subcommand)]
    Connector(ConnectorCommand),
    /// The directory's users
    #[command(subcommand)]
    Users(UsersCommand),
    /// The directory's groups
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// The directories and their order (the earliest wins a username)
    #[command(subcommand)]
    Directories(DirectoriesCommand),
    /// The audit log: every directory change, oldest first
    Audit(AuditArgs),
    /// Administrators of the console and the admin API, and API tokens
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Create an admin account. The password is asked for twice, not echoed; scripts pass it
    /// on standard input with --password-stdin
    Create {
        /// The login name (letters, digits, '.', '_', '-', '@'; case-insensitive)
        username: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// List admin accounts
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Delete an admin account; its console sessions end
    Delete {
        /// The login name
        username: String,
    },
    /// Set an admin account's password; its console sessions end
    Password {
        /// The login name
        username: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Manage API tokens: admin tokens (the admin API) and app tokens (the read-only
    /// application API)
    #[command(subcommand)]
    Token(ApiTokenCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApiTokenCommand {
    /// Create an API token (shown only once)
    Create {
        /// What the token may do
        #[arg(long)]
        scope: ApiScopeArg,
        /// A note saying what the token is for
        #[arg(long, default_value = "")]
        description: String,
        /// Expire the token after this many days
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
        expires_in_days: Option<u32>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// List API tokens (never their secrets)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API token at once
    Revoke {
        /// The token's id (from `admin token list`)
        id: String,
    },
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ApiScopeArg {
    /// Everything the console can do, through the admin API
    Admin,
    /// Read the directory and its change feed, through the application API
    App,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SettingsCommand {
    /// Print a connector's settings (TOML, or JSON with --json)
    Show {
        /// The connector's id
        id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Validate and store a connector's settings from a TOML file (or standard input)
    Set {
        /// The connector's id
        id: String,
        /// The settings document (TOML); standard input when absent
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Print the default settings document, with every field explained
    Template,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// List users, of one directory or all
    List {
        /// Only this directory (`internal` or a connector id)
        #[arg(long)]
        directory: Option<String>,
        /// At most this many
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show a user: each directory that holds the username, memberships with their origin,
    /// and which directory the effective user comes from
    Show {
        /// The username (case-insensitive)
        username: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Create a local user (in the internal directory unless --directory says otherwise)
    Create {
        /// The username
        username: String,
        /// The directory
        #[arg(long, default_value = "internal")]
        directory: String,
        /// Display name
        #[arg(long)]
        display_name: Option<String>,
        /// Email address
        #[arg(long)]
        email: Option<String>,
        /// Given name
        #[arg(long)]
        first_name: Option<String>,
        /// Family name
        #[arg(long)]
        last_name: Option<String>,
        /// Create the user inactive
        #[arg(long)]
        inactive: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// List groups, of one directory or all, with member counts
    List {
        /// Only this directory
        #[arg(long)]
        directory: Option<String>,
        /// At most this many
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Create a local group (in the internal directory unless --directory says otherwise)
    Create {
        /// The group's name
        name: String,
        /// The directory
        #[arg(long, default_value = "internal")]
        directory: String,
        /// A description
        #[arg(long)]
        description: Option<String>,
    },
    /// Put a user in a group (origin `local`)
    AddMember {
        /// The group's name
        group: String,
        /// The username
        username: String,
        /// The directory
        #[arg(long, default_value = "internal")]
        directory: String,
    },
    /// Take a user out of a group
    RemoveMember {
        /// The group's name
        group: String,
        /// The username
        username: String,
        /// The directory
        #[arg(long, default_value = "internal")]
        directory: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DirectoriesCommand {
    /// List the directories in order
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Put the directories in this order (every directory id, once)
    Order {
        /// Directory ids, earliest first
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only changes made through this connector's directory
    #[arg(long)]
    pub(crate) connector: Option<String>,
    /// Only rows after this sequence number (a change feed: pass the last one seen)
    #[arg(long, value_name = "SEQ")]
    pub(crate) since: Option<i64>,
    /// At most this many rows
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: u32,
    /// Print JSON (one array)
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "ROSTER_LISTEN", value_name = "ADDR")]
    pub(crate) listen: Option<SocketAddr>,

    /// TLS certificate chain (PEM); with --tls-key, Roster serves HTTPS itself
    #[arg(
        long,
        env = "ROSTER_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub(crate) tls_cert: Option<PathBuf>,

    /// TLS private key (PEM)
    #[arg(
        long,
        env = "ROSTER_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub(crate) tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConnectorCommand {
    /// Create a connector; prints its SCIM base URL and a bearer token (shown only once)
    Create {
        /// A name for people ("Entra ID")
        name: String,
        /// The id in the URL [default: made from the name]
        #[arg(long)]
        id: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// List connectors
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show a connector
    Show {
        /// The connector's id
        id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Enable a connector
    Enable {
        /// The connector's id
        id: String,
    },
    /// Disable a connector: its tokens stop working until it is enabled again
    Disable {
        /// The connector's id
        id: String,
    },
    /// Delete a connector with its tokens and everything its IdP provisioned
    Delete {
        /// The connector's id
        id: String,
    },
    /// Manage a connector's bearer tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show or set a connector's sync settings (mapping, group rules, cleanup, copy)
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Show what the stored settings (or a proposed document) would change, writing nothing
    Preview {
        /// The connector's id
        id: String,
        /// A proposed settings document (TOML) to preview instead of the stored one
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Re-sync every user of the connector now, with its stored settings
    Apply {
        /// The connector's id
        id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Sync results: runs with their counters, and the latest outcome of each user
    Results {
        /// The connector's id
        id: String,
        /// Only users with this outcome (created, updated, unchanged, disabled, deleted,
        /// filtered, failed)
        #[arg(long)]
        outcome: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Add a token (shown only once); the others stay valid, so tokens rotate without downtime
    Add {
        /// The connector's id
        connector: String,
        /// A note saying what the token is for
        #[arg(long, default_value = "")]
        description: String,
        /// Expire the token after this many days
        #[arg(long, value_name = "DAYS", conflicts_with = "expires_at")]
        expires_in_days: Option<u32>,
        /// Expire the token at this time (RFC 3339)
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// List a connector's tokens (never their secrets)
    List {
        /// The connector's id
        connector: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token at once
    Revoke {
        /// The connector's id
        connector: String,
        /// The token's id (from `token list`)
        token_id: String,
    },
}
