import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type CallHandler,
  Body,
  Controller,
  DefaultValuePipe,
  type ExecutionContext,
  Get,
  Injectable,
  Module,
  type NestInterceptor,
  NotFoundException,
  Param,
  ParseIntPipe,
  Post,
  Query,
  ValidationPipe,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { type NestExpressApplication } from '@nestjs/platform-express';
import { InjectMetric, makeHistogramProvider, PrometheusModule } from '@willsoto/nestjs-prometheus';
import { IsString, Length } from 'class-validator';
import { Logger, LoggerModule } from 'nestjs-pino';
import { Histogram } from 'prom-client';
import { type Observable } from 'rxjs';
import { baselineItems } from './baseline-items.js';

/**
 * A typical NestJS template, as a common production starter gives it: Express (Nest's default adapter),
 * nestjs-pino with its defaults (pino-http writes one line per request to stdout at info),
 * @willsoto/nestjs-prometheus with the default metrics and an HTTP histogram observed by a global
 * interceptor, and a global ValidationPipe. No tracing, no auth. It serves the baseline's items from
 * memory, so that what such a stack costs can be set beside the service, which does the same jobs its
 * own way.
 *
 * POST /items appends to the in-memory array and answers 201 at once: nothing is written anywhere, so it
 * is not durable, and it cannot be compared with the service's POST, whose 201 waits for an fsync.
 */
const { items, byId } = baselineItems();
type Item = (typeof items)[number];
// Express sets `route` on the request once a route matches (no @types/express here).
type RoutedRequest = IncomingMessage & { route: { path: string } };

class CreateItemDto {
  @IsString()
  @Length(1, 200)
  name!: string;
}

@Injectable()
class HttpMetricsInterceptor implements NestInterceptor {
  constructor(
    @InjectMetric('http_request_duration_seconds')
    private readonly duration: Histogram<'method' | 'route' | 'status_code'>,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<RoutedRequest>();
    const response = context.switchToHttp().getResponse<ServerResponse>();
    const end = this.duration.startTimer({ method: request.method, route: request.route.path });
    // On finish, so that errors (a 400 from the pipe, a 404) are counted with the status actually sent.
    response.once('finish', () => end({ status_code: response.statusCode }));
    return next.handle();
  }
}

@Controller()
class ItemsController {
  @Get('items/:id')
  get(@Param('id') id: string): Item {
    const item = byId.get(id);
    if (!item) throw new NotFoundException();
    return item;
  }

  @Get('items')
  list(@Query('limit', new DefaultValuePipe(50), ParseIntPipe) limit: number) {
    return { items: items.slice(0, limit), next_cursor: null };
  }

  @Post('items')
  create(@Body() body: CreateItemDto): Item {
    const now = new Date().toISOString();
    const item = { id: randomUUID(), name: body.name, created_at: now, updated_at: now, version: 1 };
    items.push(item);
    byId.set(item.id, item);
    return item;
  }

  @Get('readyz')
  ready() {
    return { status: 'ok' };
  }
}

@Module({
  imports: [LoggerModule.forRoot(), PrometheusModule.register()],
  controllers: [ItemsController],
  providers: [
    makeHistogramProvider({
      name: 'http_request_duration_seconds',
      help: 'Duration of HTTP requests in seconds',
      labelNames: ['method', 'route', 'status_code'],
    }),
    { provide: APP_INTERCEPTOR, useClass: HttpMetricsInterceptor },
  ],
})
class TemplateModule {}

const app = await NestFactory.create<NestExpressApplication>(TemplateModule, { bufferLogs: true });
app.useLogger(app.get(Logger));
app.useGlobalPipes(new ValidationPipe({ whitelist: true, transform: true }));
await app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
