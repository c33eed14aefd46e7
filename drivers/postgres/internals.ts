/**
 * The PostgreSQL driver's internals that the project's own tests and
 * benchmarks read: the schema's migrations, the statements and the list
 * query per filter. Not part of the published API (no `deno.json` export
 * names this module); what it re-exports may change in any release.
 *
 * @module
 */
export { migrations } from "./_migrations.ts";
export { statements } from "./_sql.ts";
export { listQuery } from "./_reads.ts";
