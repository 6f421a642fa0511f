//! Conversation windows: each boundary just inside and just outside, and who may send then.

use serde_json::json;
use tandem_channels::{
    window::{Author, WindowRefusal},
    ChannelSettings, MessageTag, WindowPolicy, WindowState,
};
use tandem_core::{ChannelKind, Timestamp};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// The customer's last message.
fn last() -> Timestamp {
    Timestamp::from_millis(1_718_000_000_000)
}

fn after(ms: i64) -> Timestamp {
    last().plus_millis(ms)
}

fn parsed(kind: ChannelKind, config: serde_json::Value) -> ChannelSettings {
    ChannelSettings::parse(kind, config.as_object().expect("object")).expect("valid settings")
}

#[test]
fn whatsapp_is_open_for_24_hours_then_templates_only() {
    let w = WindowPolicy::WHATSAPP;
    let inside = w.state(Some(last()), after(DAY - 1));
    assert_eq!(inside, WindowState::Open { closes_at: after(DAY) });
    assert_eq!(inside.admit(Author::Agent, false), Ok(None));
    assert_eq!(inside.admit(Author::Human, false), Ok(None));

    let outside = w.state(Some(last()), after(DAY));
    assert_eq!(outside, WindowState::Closed { template_required: true });
    assert_eq!(outside.admit(Author::Agent, false), Err(WindowRefusal::TemplateRequired));
    assert_eq!(outside.admit(Author::Human, false), Err(WindowRefusal::TemplateRequired));
    assert_eq!(outside.admit(Author::Agent, true), Ok(None));
    assert_eq!(outside.admit(Author::Human, true), Ok(None));
}

#[test]
fn instagram_closes_after_24_hours_with_no_way_around() {
    let w = WindowPolicy::INSTAGRAM;
    assert_eq!(w.state(Some(last()), after(DAY - 1)), WindowState::Open { closes_at: after(DAY) });
    let outside = w.state(Some(last()), after(DAY));
    assert_eq!(outside, WindowState::Closed { template_required: false });
    assert_eq!(outside.admit(Author::Human, false), Err(WindowRefusal::Closed));
    assert_eq!(outside.admit(Author::Agent, true), Err(WindowRefusal::Closed));
}

#[test]
fn messenger_lets_a_person_answer_with_human_agent_until_7_days() {
    let w = WindowPolicy::MESSENGER;
    let open = w.state(Some(last()), after(DAY - 1));
    assert_eq!(open, WindowState::Open { closes_at: after(DAY) });
    assert_eq!(open.admit(Author::Agent, false), Ok(None));

    for elapsed in [DAY, 7 * DAY - 1] {
        let human_only = w.state(Some(last()), after(elapsed));
        assert_eq!(human_only, WindowState::HumanAgentOnly { closes_at: after(7 * DAY) }, "{elapsed}");
        assert_eq!(human_only.admit(Author::Human, false), Ok(Some(MessageTag::HumanAgent)));
        assert_eq!(human_only.admit(Author::Agent, false), Err(WindowRefusal::HumanAgentOnly(after(7 * DAY).to_rfc3339())));
    }

    let closed = w.state(Some(last()), after(7 * DAY));
    assert_eq!(closed, WindowState::Closed { template_required: false });
    assert_eq!(closed.admit(Author::Human, false), Err(WindowRefusal::Closed));
}

#[test]
fn wechat_customer_service_messages_have_48_hours() {
    // The policy of parsed WeChat settings.
    let settings = parsed(ChannelKind::Wechat, json!({ "app_id": "wx5f3a9c2e8b1d4a70", "app_secret": "s", "token": "t" }));
    let w = settings.window();
    assert_eq!(w, WindowPolicy::WECHAT);
    assert_eq!(w.state(Some(last()), after(DAY)), WindowState::Open { closes_at: after(2 * DAY) });
    assert_eq!(w.state(Some(last()), after(2 * DAY - 1)), WindowState::Open { closes_at: after(2 * DAY) });
    let outside = w.state(Some(last()), after(2 * DAY));
    assert_eq!(outside, WindowState::Closed { template_required: false });
    assert_eq!(outside.admit(Author::Agent, false), Err(WindowRefusal::Closed));
}

#[test]
fn without_an_inbound_message_windowed_channels_are_closed() {
    let now = after(0);
    assert_eq!(WindowPolicy::WHATSAPP.state(None, now), WindowState::Closed { template_required: true });
    assert_eq!(WindowPolicy::WHATSAPP.state(None, now).admit(Author::Agent, true), Ok(None));
    for w in [WindowPolicy::INSTAGRAM, WindowPolicy::MESSENGER, WindowPolicy::WECHAT] {
        let state = w.state(None, now);
        assert_eq!(state, WindowState::Closed { template_required: false }, "{w:?}");
        assert_eq!(state.admit(Author::Human, false), Err(WindowRefusal::Closed), "{w:?}");
    }
}

#[test]
fn a_last_message_stamped_slightly_in_the_future_is_still_open() {
    // Provider clocks drift: a timestamp ahead of ours must not close the window.
    assert_eq!(WindowPolicy::WHATSAPP.state(Some(after(5_000)), after(0)), WindowState::Open { closes_at: after(DAY + 5_000) });
}

#[test]
fn channels_without_a_window_are_always_open() {
    let channels = [
        parsed(ChannelKind::Telegram, json!({ "bot_token": "1:AA", "secret_token": "s3cret" })),
        parsed(ChannelKind::Line, json!({ "channel_secret": "s", "channel_access_token": "t" })),
        parsed(ChannelKind::Viber, json!({ "auth_token": "t", "sender_name": "Loja" })),
    ];
    for settings in channels {
        let w = settings.window();
        assert_eq!(w, WindowPolicy::UNLIMITED, "{:?}", settings.kind());
        for (last_inbound, now) in [(None, after(0)), (Some(last()), after(365 * DAY))] {
            let state = w.state(last_inbound, now);
            assert_eq!(state, WindowState::Unlimited, "{:?}", settings.kind());
            assert_eq!(state.admit(Author::Agent, false), Ok(None));
            assert_eq!(state.admit(Author::Human, true), Ok(None));
        }
    }
}
