//! Each lab's scenarios, one module per lab, and the list the runner shows.

/// The name of one of this lab's scenarios, for a [`Report`](crate::scenario::Report): its
/// proving function's name, so that a misspelt name, which names no function, does not compile.
/// (That the function is in the lab's list of scenarios is tests/labs.rs's to check.)
macro_rules! scenario_name {
    ($run:ident) => {{
        const _: fn(&mut $crate::session::Session) -> anyhow::Result<()> = $run;
        stringify!($run)
    }};
}

pub mod backlog;
mod chat;
pub mod reliable;
pub mod sticky;
pub mod tcp_chat;
pub mod tcp_states;
pub mod tcp_vs_udp;
pub mod udp_chat;
pub mod udp_echo;
pub mod udp_group;
pub mod upper;

use crate::Lab;

/// Every lab, in the order a course meets them.
pub const ALL: &[&Lab] = &[
    &udp_echo::LAB,
    &upper::LAB,
    &backlog::LAB,
    &udp_group::LAB,
    &sticky::LAB,
    &tcp_chat::LAB,
    &udp_chat::LAB,
    &reliable::LAB,
    &tcp_states::LAB,
    &tcp_vs_udp::LAB,
];

pub fn find(name: &str) -> Option<&'static Lab> {
    ALL.iter().copied().find(|lab| lab.name == name)
}
