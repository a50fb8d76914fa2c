/**
 * The versions of the production cluster, in one place: the native cluster (`pinrotate cluster start`) builds and
 * runs exactly these, and docker-compose.temporal.yml pins the same ones (test/unit/compose.test.ts checks it).
 */

/** go.temporal.io/server tag: the server and schema tool; the one Temporal CLI v1.5.1 embeds. */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
/** github.com/temporalio/ui-server/v2 tag: the Web UI that CLI v1.5.1 embeds and the temporalio/ui image carries. */
export const TEMPORAL_UI_VERSION = 'v2.42.1';
/** PostgreSQL major version: the OS packages of Debian 12 here, the postgres image in compose. */
export const POSTGRES_MAJOR = 15;
/** The SQL persistence plugin and the embedded schemas that go with it (PostgreSQL 12 and later). */
export const SQL_PLUGIN = 'postgres12';
export const SCHEMA_NAMES = { temporal: 'postgresql/v12/temporal', visibility: 'postgresql/v12/visibility' } as const;
/** The dynamic config file both ways load, relative to the repository root. */
export const DYNAMIC_CONFIG_PATH = 'dynamicconfig/pinrotate.yaml';
