import { Module } from '@nestjs/common';
import { ApiKeyGuard } from '../auth/api-key.guard.js';
import { JsonFileItemsRepository } from './json-file/json-file-items.repository.js';
import { ItemsController } from './items.controller.js';
import {
  ITEMS_REPOSITORY,
  ITEMS_REPOSITORY_DECORATOR,
  type ItemsRepository,
  type ItemsRepositoryDecorator,
} from './items.repository.js';
import { ItemsService } from './items.service.js';

@Module({
  controllers: [ItemsController],
  providers: [
    ItemsService,
    ApiKeyGuard,
    JsonFileItemsRepository,
    {
      provide: ITEMS_REPOSITORY,
      useFactory: (store: JsonFileItemsRepository, decorate?: ItemsRepositoryDecorator): ItemsRepository =>
        decorate ? decorate(store) : store,
      inject: [JsonFileItemsRepository, { token: ITEMS_REPOSITORY_DECORATOR, optional: true }],
    },
  ],
  exports: [JsonFileItemsRepository, ITEMS_REPOSITORY],
})
export class ItemsModule {}
