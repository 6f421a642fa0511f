//! Conversation windows (PRODUCT.md §1): how long after the customer's last message the business
//! may send free-form messages.

use serde::Serialize;
use tandem_core::Timestamp;

use crate::outbound::MessageTag;

const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPolicy {
    /// `None`: no window, the business may always write.
    pub free_form_ms: Option<i64>,
    /// Messenger: a person (not the AI agent) may still answer with the `HUMAN_AGENT` tag until
    /// this long after the customer's last message.
    pub human_agent_ms: Option<i64>,
    /// WhatsApp: outside the window only an approved template may be sent.
    pub template_outside: bool,
}

impl WindowPolicy {
    pub const UNLIMITED: Self = Self { free_form_ms: None, human_agent_ms: None, template_outside: false };
    pub const WHATSAPP: Self = Self { free_form_ms: Some(24 * HOUR_MS), human_agent_ms: None, template_outside: true };
    pub const INSTAGRAM: Self = Self { free_form_ms: Some(24 * HOUR_MS), human_agent_ms: None, template_outside: false };
    pub const MESSENGER: Self = Self { free_form_ms: Some(24 * HOUR_MS), human_agent_ms: Some(7 * 24 * HOUR_MS), template_outside: false };
    pub const WECHAT: Self = Self { free_form_ms: Some(48 * HOUR_MS), human_agent_ms: None, template_outside: false };

    /// Where the window stands `now`, given the customer's last message.
    pub fn state(&self, last_inbound: Option<Timestamp>, now: Timestamp) -> WindowState {
        let Some(limit) = self.free_form_ms else { return WindowState::Unlimited };
        let Some(last) = last_inbound else {
            return WindowState::Closed { template_required: self.template_outside };
        };
        let elapsed = now.millis() - last.millis();
        if elapsed < limit {
            return WindowState::Open { closes_at: last.plus_millis(limit) };
        }
        match self.human_agent_ms {
            Some(human) if elapsed < human => WindowState::HumanAgentOnly { closes_at: last.plus_millis(human) },
            _ => WindowState::Closed { template_required: self.template_outside },
        }
    }
}

/// The window as the inbox and the agent see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WindowState {
    Unlimited,
    Open {
        closes_at: Timestamp,
    },
    /// Messenger between 24 h and 7 days: people only, with the `HUMAN_AGENT` tag.
    HumanAgentOnly {
        closes_at: Timestamp,
    },
    /// Free-form messages are refused; on WhatsApp a template still goes.
    Closed {
        template_required: bool,
    },
}

/// Why a message may not go out now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowRefusal {
    #[error("the 24-hour window has closed: WhatsApp only delivers an approved template now")]
    TemplateRequired,
    #[error("the conversation window has closed: the customer must write first")]
    Closed,
    #[error("past 24 hours only a person may answer, tagged HUMAN_AGENT, until {0}")]
    HumanAgentOnly(String),
}

/// Who is sending: the AI agent or a person in the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    Agent,
    Human,
}

impl WindowState {
    /// Whether a message may go now, and the tag it must carry.
    pub fn admit(&self, author: Author, is_template: bool) -> Result<Option<MessageTag>, WindowRefusal> {
        match *self {
            WindowState::Unlimited | WindowState::Open { .. } => Ok(None),
            WindowState::HumanAgentOnly { closes_at } => match author {
                Author::Human => Ok(Some(MessageTag::HumanAgent)),
                Author::Agent => Err(WindowRefusal::HumanAgentOnly(closes_at.to_rfc3339())),
            },
            WindowState::Closed { template_required: true } if is_template => Ok(None),
            WindowState::Closed { template_required: true } => Err(WindowRefusal::TemplateRequired),
            WindowState::Closed { template_required: false } => Err(WindowRefusal::Closed),
        }
    }
}
