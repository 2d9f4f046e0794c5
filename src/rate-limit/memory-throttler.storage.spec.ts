import assert from '../../test/support/assert.js';
import { afterEach, describe, it, jest } from '@jest/globals';
import { MemoryThrottlerStorage } from './memory-throttler.storage.js';

const WINDOW_MS = 60_000;
const LIMIT = 3;
const NAME = 'default';

describe('MemoryThrottlerStorage', () => {
  const stores: MemoryThrottlerStorage[] = [];
  afterEach(() => {
    for (const store of stores.splice(0)) store.onApplicationShutdown();
    jest.useRealTimers();
  });

  /** A storage on a clock the test sets: `clock.at` milliseconds. */
  const storage = (sweepIntervalMs?: number) => {
    const clock = { at: 1_000_000 };
    const store = new MemoryThrottlerStorage({ now: () => clock.at, sweepIntervalMs });
    stores.push(store);
    return { store, clock };
  };
  const hit = (store: MemoryThrottlerStorage, key = 'client', limit = LIMIT, blockDuration = WINDOW_MS) =>
    store.increment(key, WINDOW_MS, limit, blockDuration, NAME);

  it('when a client stays within the limit, then each hit is counted once and the window ends where it began + ttl', async () => {
    const { store, clock } = storage();
    const start = clock.at;

    const records = [];
    for (const at of [start, start + 1_500, start + 30_000]) {
      clock.at = at;
      records.push(await hit(store));
    }

    assert.deepEqual(records, [
      { totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 },
      { totalHits: 2, timeToExpire: 59, isBlocked: false, timeToBlockExpire: 0 },
      { totalHits: 3, timeToExpire: 30, isBlocked: false, timeToBlockExpire: 0 },
    ]);
  });

  it('when a hit comes in the last millisecond of a window, then it counts in that window; in the first of the next, the count starts again', async () => {
    const { store, clock } = storage();
    const start = clock.at;
    await hit(store);

    clock.at = start + WINDOW_MS - 1;
    const last = await hit(store);
    clock.at = start + WINDOW_MS;
    const first = await hit(store);

    assert.deepEqual(last, { totalHits: 2, timeToExpire: 1, isBlocked: false, timeToBlockExpire: 0 });
    assert.deepEqual(first, { totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
  });

  it('when the clock reads fractions of a millisecond, then the seconds are still whole from the window and block lengths: a fresh window says 60, not 61', async () => {
    const { store, clock } = storage();
    // (at + 60000) - at is 60000.00000000012 in floating point.
    clock.at = 1_000_000.1;
    for (let i = 0; i < LIMIT; i++) await hit(store);

    const refused = await hit(store);

    assert.deepEqual(refused, { totalHits: 4, timeToExpire: 60, isBlocked: true, timeToBlockExpire: 60 });
  });

  it('when a client passes the limit, then it is blocked for blockDuration from that hit, told how long, and every hit meanwhile is counted, as in Redis', async () => {
    const { store, clock } = storage();
    const start = clock.at;
    for (let i = 0; i < LIMIT; i++) assert.equal((await hit(store)).isBlocked, false);

    clock.at = start + 20_000;
    const refused = await hit(store);
    // The window ends at +60 s; the block, from the refusal, at +80 s.
    clock.at = start + WINDOW_MS;
    const inNewWindow = await hit(store);
    clock.at = start + 80_000 - 1;
    const lastBlocked = await hit(store);

    assert.deepEqual(refused, { totalHits: 4, timeToExpire: 40, isBlocked: true, timeToBlockExpire: 60 });
    assert.deepEqual(inNewWindow, { totalHits: 1, timeToExpire: 60, isBlocked: true, timeToBlockExpire: 20 });
    assert.deepEqual(lastBlocked, { totalHits: 2, timeToExpire: 41, isBlocked: true, timeToBlockExpire: 1 });
  });

  it('when a blocked client waits for the block to end, then it has its whole budget back; one that kept sending is over it again at once', async () => {
    const { store, clock } = storage();
    const start = clock.at;
    const clients = ['patient', 'insistent'];
    for (const key of clients) for (let i = 0; i < LIMIT; i++) await hit(store, key);
    clock.at = start + 20_000;
    for (const key of clients) await hit(store, key);
    // Blocked until +80 s; the insistent one goes on in its next window, from +60 s.
    clock.at = start + WINDOW_MS;
    for (let i = 0; i < LIMIT; i++) await hit(store, 'insistent');

    clock.at = start + 80_000;
    const patient = await hit(store, 'patient');
    const insistent = await hit(store, 'insistent');

    assert.deepEqual(patient, { totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
    assert.deepEqual(insistent, { totalHits: LIMIT + 1, timeToExpire: 40, isBlocked: true, timeToBlockExpire: 60 });
  });

  it('when blockDuration is 0, then a client over the limit is refused until its window ends, and not after', async () => {
    const { store, clock } = storage();
    const start = clock.at;
    for (let i = 0; i < LIMIT; i++) await hit(store, 'client', LIMIT, 0);

    clock.at = start + 45_000;
    const refused = await hit(store, 'client', LIMIT, 0);
    clock.at = start + WINDOW_MS;
    const after = await hit(store, 'client', LIMIT, 0);

    assert.deepEqual(refused, { totalHits: 4, timeToExpire: 15, isBlocked: true, timeToBlockExpire: 15 });
    assert.deepEqual(after, { totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
  });

  it('when many clients hit in turn, then each has its own count, and one client refused leaves the others their budget', async () => {
    const { store } = storage();
    const clients = Array.from({ length: 1_000 }, (_, n) => `192.0.2.${n}`);
    for (let round = 0; round < LIMIT; round++) for (const client of clients) await hit(store, client);

    const refused = await hit(store, clients[500]);
    const others = await Promise.all(clients.filter((_, n) => n !== 500).map((client) => hit(store, client)));
    const otherThrottler = await store.increment(clients[500]!, WINDOW_MS, LIMIT, WINDOW_MS, 'burst');

    assert.equal(refused.isBlocked, true);
    assert.ok(
      others.every((record) => record.totalHits === LIMIT + 1 && record.isBlocked),
      'each other client counted its own 4th hit',
    );
    assert.deepEqual(otherThrottler, { totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
  });

  it('when 100,000 distinct clients come within one window, then the storage holds one entry each, the sweep forgets each once its window has passed, and none after', async () => {
    const { store, clock } = storage();
    const start = clock.at;
    const clients = 100_000;
    // Two new clients every millisecond, for 50 s.
    const arrival = (n: number) => start + Math.floor(n / 2);
    for (let n = 0; n < clients; n++) {
      clock.at = arrival(n);
      await hit(store, `client-${n}`);
    }
    const whileLive = store.size;
    store.sweep();
    const afterSweepInWindow = store.size;

    // Those that arrived in the first 25 s (ms 0 to 25,000: 50,002 clients) are past their window.
    clock.at = start + 25_000 + WINDOW_MS;
    store.sweep();
    const halfway = store.size;
    clock.at = arrival(clients - 1) + WINDOW_MS;
    store.sweep();

    assert.equal(whileLive, clients);
    assert.equal(afterSweepInWindow, clients, 'the sweep forgets no client whose window is live');
    assert.equal(halfway, clients - 50_002);
    assert.equal(store.size, 0);
  });

  it('when a blocked client outlives its window, then the sweep keeps it until its block ends', async () => {
    const { store, clock } = storage();
    const start = clock.at;
    for (let i = 0; i < LIMIT; i++) await hit(store, 'blocked');
    clock.at = start + 10_000;
    await hit(store, 'later');
    // Refused at +20 s: its window ends at +60 s, its block at +80 s; 'later's window at +70 s.
    clock.at = start + 20_000;
    await hit(store, 'blocked');

    const sizes = [];
    for (const at of [WINDOW_MS, 70_000, 80_000]) {
      clock.at = start + at;
      store.sweep();
      sizes.push(store.size);
    }

    assert.deepEqual(sizes, [2, 1, 0]);
  });

  it('when the sweep interval passes, then the timer forgets expired clients; at shutdown the timer stops and the budgets go', async () => {
    jest.useFakeTimers({ doNotFake: ['performance', 'Date'] });
    const { store, clock } = storage(1_000);
    const timersBefore = jest.getTimerCount();
    await hit(store, 'gone');
    const timersWhileCounting = jest.getTimerCount();
    clock.at += WINDOW_MS;
    await hit(store, 'live');

    jest.advanceTimersByTime(1_000);
    const afterSweep = store.size;
    store.onApplicationShutdown();

    assert.equal(timersWhileCounting, timersBefore + 1, 'the first hit starts the sweep');
    assert.equal(afterSweep, 1);
    assert.equal(jest.getTimerCount(), timersBefore);
    assert.equal(store.size, 0);
  });
});
