//! Management of the SQL objects PowerSync generates for the app's schema.

use crate::error::PsResult;
use crate::function::{Call, Output};
use crate::sql::{self, quote_identifier};

/// `powersync_drop_view(name)`: used by stored down migrations; dropping a view drops its
/// triggers too.
pub fn drop_view_fn(call: &Call) -> PsResult<Output> {
    let name = call.args.text(0).unwrap_or_default();
    let statement = format!("DROP VIEW IF EXISTS {}", quote_identifier(&name));
    sql::execute_batch(&call.connection(), &statement)?;
    Ok(Output::Null)
}
