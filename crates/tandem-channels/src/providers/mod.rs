//! One module per provider, each implementing [`crate::settings::Provider`] on its `Settings`.

pub mod instagram;
pub mod line;
pub mod messenger;
pub mod meta;
pub mod telegram;
pub mod twilio;
pub mod viber;
pub mod wechat;
pub mod whatsapp;
pub mod widget;
