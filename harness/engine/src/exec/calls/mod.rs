//! The call families: each module owns its calls' resolved form (`Call`), `prepare`,
//! `perform` and `render`; [`super::dispatch`] says which family an op belongs to.

pub(crate) mod files;
pub(crate) mod io;
pub(crate) mod names;
pub(crate) mod options;
pub(crate) mod process;
pub(crate) mod readiness;
pub(crate) mod server;
pub(crate) mod sockets;
pub(crate) mod tc;
