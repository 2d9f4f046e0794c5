import { type Kysely, sql } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import type { ItemsDatabase } from './items-database.js';

/**
 * The schema's versions, in order. A migration is never edited once released: a change is a new one.
 * Listed here rather than read from a folder, so that the compiled service and `dist/migrate.js` carry
 * them without a file-system lookup.
 */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_create_items': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('items')
        .addColumn('id', sql`text collate "C"`, (column) => column.primaryKey())
        .addColumn('name', 'bytea', (column) => column.notNull())
        .addColumn('created_at', sql`timestamptz(3)`, (column) => column.notNull())
        .addColumn('updated_at', sql`timestamptz(3)`, (column) => column.notNull())
        .addColumn('version', 'integer', (column) => column.notNull().check(sql`version >= 1`))
        .execute();
      // The list's order and its cursor: (created_at, id) > (cursor) walks this index.
      await db.schema.createIndex('items_created_at_id').on('items').columns(['created_at', 'id']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('items').execute();
    },
  },
  '0002_create_idempotency_keys': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Written in the item's own transaction (PostgresItemsRepository.insert); no foreign key, since
      // a replay answers the item as created, even after it has been deleted.
      await db.schema
        .createTable('idempotency_keys')
        .addColumn('key', sql`text collate "C"`, (column) => column.primaryKey())
        .addColumn('fingerprint', 'text', (column) => column.notNull())
        .addColumn('expires_at', sql`timestamptz(3)`, (column) => column.notNull())
        .addColumn('item', 'text', (column) => column.notNull())
        .execute();
      // The clean-up takes the oldest expired rows first.
      await db.schema.createIndex('idempotency_keys_expires_at').on('idempotency_keys').column('expires_at').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('idempotency_keys').execute();
    },
  },
};

/** Kysely's migrator: its lock (a row locked in a transaction) lets two runs start at once safely. */
export function itemsMigrator(db: Kysely<ItemsDatabase>): Migrator {
  return new Migrator({ db, provider: { getMigrations: () => Promise.resolve(MIGRATIONS) } });
}

/** The migrations this release knows that the database has not run; the service refuses to start then. */
export async function pendingMigrations(db: Kysely<ItemsDatabase>): Promise<string[]> {
  const migrations = await itemsMigrator(db).getMigrations();
  return migrations.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name);
}
