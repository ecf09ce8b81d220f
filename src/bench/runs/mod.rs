//! The measured runs themselves: sink throughput ([`sink`]), end-to-end latency at fixed
//! rates ([`latency`]), producer throughput ([`producer`]), the bench's child processes that
//! do measured work apart from the harness ([`worker`]), and repeated sink runs reported as
//! medians ([`repeats`]).

pub mod latency;
pub mod producer;
pub mod repeats;
pub mod sink;
pub mod worker;
