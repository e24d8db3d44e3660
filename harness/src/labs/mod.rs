//! Each lab's scenarios, one module per lab, and the list the runner shows.

pub mod backlog;
pub mod sticky;
pub mod tcp_chat;
pub mod tcp_states;
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
    &tcp_states::LAB,
];

pub fn find(name: &str) -> Option<&'static Lab> {
    ALL.iter().copied().find(|lab| lab.name == name)
}
