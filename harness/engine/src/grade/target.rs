//! What a case process needs to know about the server under test: where it listens, and
//! which processes and network namespace are its, for `server_fact(...)`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerTarget {
    /// A process inside the server's network namespace (the sandbox holder): the case
    /// process enters `/proc/<pid>/ns/net` and reads its socket tables.
    pub netns_pid: i32,
    /// The sandbox's init (host pid); the server's processes are its descendants.
    pub init_pid: i32,
    /// The server's address per service; `""` is the suite's only (or main) service.
    pub addrs: BTreeMap<String, SocketAddr>,
}

impl ServerTarget {
    /// The address for `server` (no name) or `server(NAME)`.
    pub fn addr(&self, service: Option<&str>) -> Option<SocketAddr> {
        match service {
            Some(name) => self.addrs.get(name).copied(),
            None => self
                .addrs
                .get("")
                .or_else(|| self.addrs.values().next())
                .copied(),
        }
    }
}
