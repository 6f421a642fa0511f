//! Typed identifiers. Each is a UUIDv7 (time-ordered, so ids sort by creation) that cannot be
//! confused with an id of another kind.

use std::{fmt, str::FromStr};

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self { Self(uuid::Uuid::now_v7()) }
        }
        impl Default for $name { fn default() -> Self { Self::new() } }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { self.0.fmt(f) }
        }
        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> { uuid::Uuid::parse_str(s).map(Self) }
        }
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
    )*};
}

typed_id!(
    /// A tenant: every other row belongs to exactly one workspace.
    WorkspaceId,
    UserId,
    TeamId,
    ApiKeyId,
    ContactId,
    PropertyId,
    LabelId,
    ListId,
    NoteId,
    ObjectTypeId,
    RecordId,
    ChannelId,
    ConversationId,
    MessageId,
    ViewId,
    JobId,
    AuditId,
    /// An AI agent: its instructions, knowledge base and channels.
    AgentId,
    /// One file or URL in an agent's knowledge base.
    SourceId,
    /// Something a person is told of (an escalated ticket), until they mark it read.
    NotificationId,
);
