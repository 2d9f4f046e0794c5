import 'reflect-metadata';
import { Controller, Get, Module, Param, Query } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { baselineItems } from './baseline-items.js';

/**
 * Bare Nest on the same Fastify adapter: the baseline's items from memory, through a controller, with no
 * pipes, guards, logs, metrics or store. What Nest alone costs, so that the service's own share of the
 * gap to bare Fastify can be told from the framework's.
 */
const { items, byId } = baselineItems();

@Controller()
class ItemsController {
  @Get('items/:id')
  get(@Param('id') id: string) {
    return byId.get(id);
  }

  @Get('items')
  list(@Query('limit') limit?: string) {
    return { items: items.slice(0, Number(limit ?? 50)), next_cursor: null };
  }

  @Get('readyz')
  ready() {
    return { status: 'ok' };
  }
}

@Module({ controllers: [ItemsController] })
class BenchModule {}

const app = await NestFactory.create<NestFastifyApplication>(BenchModule, new FastifyAdapter({ skipMiddie: true }), {
  logger: false,
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
