import assert from '../../test/support/assert.js';
import { afterEach, describe, it } from '@jest/globals';
import { type Gauge, register } from 'prom-client';
import type { ItemsDatabasePoolStats } from '../items/postgres/items-database.js';
import { METRICS } from './metrics.js';
import { poolMetricProviders } from './pool-metrics.js';
import type { StoreTelemetry } from './store-telemetry.js';

interface GaugeFactory {
  useFactory: (options: undefined, telemetry: Pick<StoreTelemetry, 'poolStats'>) => Gauge<string>;
}

/** Each gauge as the module would make it (in prom-client's default registry), reading `pool`. */
function gauges(pool: () => ItemsDatabasePoolStats | undefined): Gauge<string>[] {
  return poolMetricProviders.map((provider) =>
    (provider as unknown as GaugeFactory).useFactory(undefined, { poolStats: pool }),
  );
}

/** name{labels} → value, as a scrape reads them. */
async function scraped(metrics: readonly Gauge<string>[]): Promise<Record<string, number>> {
  const values: Record<string, number> = {};
  for (const metric of metrics) {
    const { name, values: samples } = await metric.get();
    for (const sample of samples) {
      const labels = Object.entries(sample.labels).map(([key, value]) => `${key}="${String(value)}"`);
      values[labels.length > 0 ? `${name}{${labels.join(',')}}` : name] = sample.value;
    }
  }
  return values;
}

describe('PostgreSQL pool gauges', () => {
  afterEach(() => {
    for (const name of [METRICS.poolConnections, METRICS.poolMax, METRICS.poolPending])
      register.removeSingleMetric(name);
  });

  it('when scraped, then they read the pool of the moment: used and idle connections, waiting queries, the limit', async () => {
    const pool = { total: 4, idle: 1, waiting: 2, max: 4 };
    const metrics = gauges(() => pool);
    assert.deepEqual(await scraped(metrics), {
      'items_store_pool_connections{state="idle"}': 1,
      'items_store_pool_connections{state="used"}': 3,
      items_store_pool_max_connections: 4,
      items_store_pool_pending_requests: 2,
    });
    Object.assign(pool, { total: 2, idle: 2, waiting: 0 });
    const later = await scraped(metrics);
    assert.equal(later['items_store_pool_connections{state="used"}'], 0);
    assert.equal(later['items_store_pool_connections{state="idle"}'], 2);
    assert.equal(later.items_store_pool_pending_requests, 0);
  });
});
