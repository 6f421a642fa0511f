//! REST handlers under `/api/v1`, one file per resource.

mod access;
mod agent_runtime;
mod audit;
mod channels;
mod contacts;
mod conversations;
mod events;
mod health;
mod imports;
mod inbox;
mod knowledge;
mod labels;
mod lists;
mod notifications;
mod objects;
mod properties;
mod session;
mod tickets;
mod views;
pub mod web;
pub mod webhooks;
pub mod widget;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub use conversations::public_media;
pub use health::{healthz, metrics, readyz};

/// Every API route, with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(access::get_workspace, access::update_workspace))
        .routes(routes!(access::list_users, access::create_user))
        .routes(routes!(access::update_user, access::delete_user))
        .routes(routes!(access::list_teams, access::create_team))
        .routes(routes!(access::delete_team))
        .routes(routes!(access::add_team_member, access::remove_team_member))
        .routes(routes!(access::list_api_keys, access::create_api_key))
        .routes(routes!(access::revoke_api_key))
        .routes(routes!(properties::list_properties, properties::create_property))
        .routes(routes!(properties::delete_property))
        .routes(routes!(contacts::list_contacts, contacts::create_contact))
        .routes(routes!(contacts::export_contacts))
        .routes(routes!(contacts::get_contact, contacts::update_contact, contacts::delete_contact))
        .routes(routes!(contacts::add_labels))
        .routes(routes!(contacts::remove_label))
        .routes(routes!(contacts::list_notes, contacts::add_note))
        .routes(routes!(contacts::contact_records))
        .routes(routes!(contacts::contact_activity))
        .routes(routes!(contacts::contact_media))
        .routes(routes!(contacts::contact_lists))
        .routes(routes!(imports::import_contacts))
        .routes(routes!(imports::get_job))
        .routes(routes!(labels::list_labels, labels::create_label))
        .routes(routes!(labels::delete_label))
        .routes(routes!(lists::list_lists, lists::create_list))
        .routes(routes!(lists::get_list, lists::delete_list))
        .routes(routes!(lists::add_members))
        .routes(routes!(lists::remove_member))
        .routes(routes!(objects::list_types, objects::create_type))
        .routes(routes!(objects::list_records, objects::create_record))
        .routes(routes!(objects::get_record, objects::update_record, objects::delete_record))
        .routes(routes!(objects::associate, objects::dissociate))
        .routes(routes!(channels::list_channels, channels::create_channel))
        .routes(routes!(channels::get_channel, channels::delete_channel))
        .routes(routes!(channels::webhook_info))
        .routes(routes!(channels::list_templates, channels::create_template))
        .routes(routes!(conversations::list_conversations, conversations::create_conversation))
        .routes(routes!(conversations::get_conversation, conversations::update_conversation))
        .routes(routes!(conversations::list_messages, conversations::send_message))
        .routes(routes!(conversations::list_notes, conversations::add_note))
        .routes(routes!(conversations::add_attachment))
        .routes(routes!(conversations::get_window))
        .routes(routes!(conversations::get_media))
        .routes(routes!(views::list_views, views::create_view))
        .routes(routes!(views::delete_view))
        .routes(routes!(audit::list_audit))
        .routes(routes!(knowledge::list_agents, knowledge::create_agent))
        .routes(routes!(knowledge::get_agent, knowledge::delete_agent))
        .routes(routes!(knowledge::list_sources, knowledge::add_source))
        .routes(routes!(knowledge::get_source, knowledge::replace_source, knowledge::delete_source))
        .routes(routes!(knowledge::source_events))
        .routes(routes!(knowledge::search))
        .routes(routes!(agent_runtime::get_profile, agent_runtime::put_profile))
        .routes(routes!(agent_runtime::sandbox))
        .routes(routes!(agent_runtime::get_answer))
        .routes(routes!(agent_runtime::feedback))
        .routes(routes!(agent_runtime::set_channel_agent))
        .routes(routes!(agent_runtime::conversation_agent))
        .routes(routes!(agent_runtime::resume_agent))
        .routes(routes!(agent_runtime::take_over))
        .routes(routes!(agent_runtime::agent_turn))
        .routes(routes!(agent_runtime::smart_replies))
        .routes(routes!(agent_runtime::rewrite))
        .routes(routes!(agent_runtime::get_credits))
        .routes(routes!(agent_runtime::list_credit_entries))
        .routes(routes!(agent_runtime::top_up))
        .routes(routes!(agent_runtime::set_plan))
        .routes(routes!(tickets::list_tickets, tickets::create_ticket))
        .routes(routes!(tickets::get_ticket, tickets::update_ticket, tickets::delete_ticket))
        .routes(routes!(tickets::list_notes, tickets::add_note))
        .routes(routes!(tickets::list_events))
        .routes(routes!(tickets::list_csat))
        .routes(routes!(tickets::list_types))
        .routes(routes!(tickets::put_type, tickets::delete_type))
        .routes(routes!(inbox::get_settings, inbox::put_settings))
        .routes(routes!(inbox::list_inbox))
        .routes(routes!(inbox::assign))
        .routes(routes!(inbox::sweep))
        .routes(routes!(inbox::metrics))
        .routes(routes!(events::events))
        .routes(routes!(notifications::list_notifications))
        .routes(routes!(notifications::read_notification))
        .routes(routes!(notifications::read_all_notifications))
}

/// `limit` and `offset` query parameters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1 to 500, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl PageQuery {
    pub fn page(&self) -> tandem_store::Page {
        tandem_store::Page::new(self.limit, self.offset)
    }
}

/// `{"items": [...]}` for lists that are not paginated.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

impl<T> From<Vec<T>> for Items<T> {
    fn from(items: Vec<T>) -> Self {
        Self { items }
    }
}
