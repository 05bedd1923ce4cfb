//! The app's schema: parsing and checking it (`model`, `types`), the SQL generated for it
//! (`generate` for JSON tables, `direct` for direct tables, `crud_trigger` for the triggers of
//! real tables), what already exists (`existing`), reconciling a database with it (`reconcile`)
//! and raw tables (`raw`).

pub mod crud_trigger;
pub mod direct;
pub mod existing;
pub mod generate;
pub mod model;
pub mod raw;
pub mod reconcile;
pub mod types;

use crate::error::PsResult;
use crate::function::{Call, Output};
use crate::migrations;
use crate::sql::{self, quote_identifier};

/// `powersync_replace_schema(json)`: parse, check column types (before touching anything),
/// migrate the internal tables, then bring data tables, indexes and views in line.
pub fn replace_schema_fn(call: &Call) -> PsResult<Output> {
    let json = call.args.text(0).unwrap_or_default();
    let schema = model::parse(&json)?;
    types::check_schema_types(&schema)?;
    let db = call.connection();
    migrations::migrate(&db, migrations::LATEST_VERSION)?;
    reconcile::apply(&db, call.state, &schema)?;
    call.state.set_schema(schema);
    Ok(Output::Text(String::new()))
}

/// `powersync_drop_view(name)`: used by stored down migrations; dropping a view drops its
/// triggers too.
pub fn drop_view_fn(call: &Call) -> PsResult<Output> {
    let name = call.args.text(0).unwrap_or_default();
    let statement = format!("DROP VIEW IF EXISTS {}", quote_identifier(&name));
    sql::execute_batch(&call.connection(), &statement)?;
    Ok(Output::Null)
}
