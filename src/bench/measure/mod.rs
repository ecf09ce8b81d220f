//! How things are measured on the machine: the footprint of pipeline processes from
//! `/proc` ([`procstat`]), the Cassandra server's own CPU net of its idle rate
//! ([`server_cpu`]) and its GC pauses during latency runs ([`server_pauses`]), the idle-machine check before a bench ([`hygiene`]), and when rows are
//! readable plus the verification every figure stands on ([`landing`]).

pub mod hygiene;
pub mod landing;
pub mod procstat;
pub mod server_cpu;
pub mod server_pauses;
