//! Database access: the connection pool and result rows.

pub(crate) mod pool;
pub(crate) mod row;
pub(crate) mod version;
