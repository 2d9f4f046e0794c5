import { Module } from '@nestjs/common';
import { ApiKeyGuard } from '../auth/api-key.guard.js';
import { JsonFileItemsRepository } from './json-file/json-file-items.repository.js';
import { ItemsController } from './items.controller.js';
import { ITEMS_REPOSITORY } from './items.repository.js';
import { ItemsService } from './items.service.js';
import { InstrumentedItemsRepository } from '../observability/instrumented-items.repository.js';
import { StoreTelemetry } from '../observability/store-telemetry.js';

@Module({
  controllers: [ItemsController],
  providers: [
    ItemsService,
    ApiKeyGuard,
    JsonFileItemsRepository,
    {
      provide: ITEMS_REPOSITORY,
      useFactory: (store: JsonFileItemsRepository, telemetry: StoreTelemetry) =>
        new InstrumentedItemsRepository(store, telemetry),
      inject: [JsonFileItemsRepository, StoreTelemetry],
    },
  ],
  exports: [JsonFileItemsRepository, ITEMS_REPOSITORY],
})
export class ItemsModule {}
