/**
 * The SQLite driver's internals that the project's own tests and benchmarks
 * read: the schema's migrations and the prepared statements, including the
 * list statement per filter shape. Not part of the published API (no
 * `deno.json` export names this module); what it re-exports may change in any
 * release.
 *
 * @module
 */
export { MIGRATIONS, SCHEMA_VERSION } from "./_schema.ts";
export { Statements } from "./_statements.ts";
export { listStatement } from "./_list.ts";
