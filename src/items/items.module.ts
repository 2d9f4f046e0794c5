import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { ApiKeyGuard } from '../auth/api-key.guard.js';
import type { StoreDriver } from '../config/app-config.js';
import { JsonFileItemsRepository } from './json-file/json-file-items.repository.js';
import { ItemsController } from './items.controller.js';
import {
  ITEMS_REPOSITORY,
  ITEMS_REPOSITORY_DECORATOR,
  type ItemsRepository,
  type ItemsRepositoryDecorator,
} from './items.repository.js';
import { ItemsService } from './items.service.js';
import { PostgresItemsRepository } from './postgres/postgres-items.repository.js';

/** The implementation behind ITEMS_REPOSITORY for each STORE_DRIVER. Only the chosen one is created. */
const STORES: Record<StoreDriver, Type<ItemsRepository>> = {
  'json-file': JsonFileItemsRepository,
  postgres: PostgresItemsRepository,
};

/**
 * The items API. Dynamic, because the store is chosen by configuration: one driver's class is
 * provided, so that the other one opens nothing (no lock file, no pool). Import `ItemsModule.forRoot`
 * with the same driver wherever the repository port is needed: Nest makes one module of the two.
 */
@Module({})
export class ItemsModule {
  static forRoot(driver: StoreDriver): DynamicModule {
    const store = STORES[driver];
    return {
      module: ItemsModule,
      controllers: [ItemsController],
      providers: [
        ItemsService,
        ApiKeyGuard,
        store,
        {
          provide: ITEMS_REPOSITORY,
          useFactory: (repository: ItemsRepository, decorate?: ItemsRepositoryDecorator): ItemsRepository =>
            decorate ? decorate(repository) : repository,
          inject: [store, { token: ITEMS_REPOSITORY_DECORATOR, optional: true }],
        },
      ],
      exports: [ITEMS_REPOSITORY],
    };
  }
}
