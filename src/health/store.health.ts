import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { ITEMS_REPOSITORY, type ItemsRepository } from '../items/items.repository.js';

/** Below a kubelet's default probe timeout (1 s): a hung disk shows as a failing check, not a lost probe. */
const STORE_CHECK_TIMEOUT_MS = 500;
/**
 * The result is reused for this long, so that the probe costs at most a couple of system calls a
 * second however often it is called (it is unauthenticated).
 */
const STORE_CHECK_CACHE_MS = 1_000;

/** Readiness: the store is loaded and can take writes. */
@Injectable()
export class StoreHealth {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(ITEMS_REPOSITORY) private readonly repository: ItemsRepository,
  ) {}

  check() {
    return this.indicators
      .check('store')
      .attempt(() => this.repository.checkWritable())
      .withTimeout(STORE_CHECK_TIMEOUT_MS)
      .cacheFor(STORE_CHECK_CACHE_MS);
  }
}
