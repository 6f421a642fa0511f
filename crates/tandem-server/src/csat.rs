//! The CSAT survey sent when a ticket with a conversation is resolved, through that
//! conversation's channel: the question while the channel's window is open; once it has closed,
//! the WhatsApp template the settings name (approved, without variables); otherwise nothing,
//! recorded as not sent with the reason. The customer's reply is read by the inbound job and by
//! the agent's turn (`Store::take_csat_answer`), so the agent does not answer a score.

use serde_json::json;
use tandem_channels::{window::Author, ChannelSettings, OutboundContent};
use tandem_core::WorkspaceId;
use tandem_store::{
    csat::{CsatSurvey, NewSurvey},
    messaging::NewOutbound,
    tickets::Ticket,
    Store, StoreError,
};

/// Sends the survey of `ticket`, just resolved. `None`: the workspace runs no surveys or the
/// ticket has no conversation.
pub async fn send_survey(store: &Store, ws: WorkspaceId, ticket: &Ticket, max_attempts: i64) -> Result<Option<CsatSurvey>, StoreError> {
    let Some(conversation) = ticket.conversation_id else { return Ok(None) };
    let Some(settings) = store.inbox_settings(ws).await?.csat else { return Ok(None) };
    let conv = store.get_conversation(ws, conversation).await?;
    let channel = store.get_channel(ws, conv.channel_id).await?;
    let survey = |message, not_sent| NewSurvey {
        ticket: ticket.id,
        conversation,
        message,
        scale: settings.scale,
        not_sent,
        answer_within_ms: i64::from(settings.answer_within_hours) * 3_600_000,
    };
    let window = match ChannelSettings::parse(channel.kind, &channel.config) {
        Ok(s) => crate::messaging::window_of(&s, &conv),
        Err(e) => {
            return store.record_csat_survey(ws, survey(None, Some(&format!("the channel's settings are unusable: {e}")))).await.map(Some)
        }
    };
    let (body, content) = match window.admit(Author::Agent, false) {
        Ok(_) => (settings.question_text(), None),
        Err(refusal) => {
            let usable = match &settings.template {
                Some(t) if window.admit(Author::Agent, true).is_ok() => {
                    store.get_template(ws, channel.id, &t.name, &t.language).await?.filter(|x| x.status == "approved" && x.variables == 0)
                }
                _ => None,
            };
            let Some(template) = usable else {
                let why = match &settings.template {
                    Some(t) => {
                        format!("{refusal}; template `{}` ({}) is not an approved template without variables here", t.name, t.language)
                    }
                    None => format!("{refusal}; no survey template is configured"),
                };
                tracing::info!(ticket = %ticket.id, %why, "survey not sent");
                return store.record_csat_survey(ws, survey(None, Some(&why))).await.map(Some);
            };
            let content = OutboundContent::Template { name: template.name.clone(), language: template.language.clone(), variables: vec![] };
            (template.body.clone(), Some(serde_json::to_value(content).unwrap_or(json!(null))))
        }
    };
    let message = store
        .queue_outbound(ws, conversation, NewOutbound { body: &body, content: content.as_ref(), author: "csat", max_attempts })
        .await?;
    store.record_csat_survey(ws, survey(Some(message.id), None)).await.map(Some)
}
