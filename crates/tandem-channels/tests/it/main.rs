//! Each provider against its documented wire format: fixtures in `fixtures/channels/{provider}`,
//! signatures checked with published vectors where the provider publishes one.

mod instagram;
mod line;
mod media;
mod messenger;
mod support;
mod telegram;
mod twilio;
mod viber;
mod wechat;
mod whatsapp;
mod window;
