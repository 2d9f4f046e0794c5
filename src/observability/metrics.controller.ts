import { ApiExcludeController } from '@nestjs/swagger';
import { Controller, Get, Res } from '@nestjs/common';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import type { FastifyReply } from 'fastify';

/** GET /metrics on the API's port, when METRICS_PORT does not move it to a port of its own. */
// Operators' endpoints, not the API's: out of the document that clients are generated from.
@ApiExcludeController()
@Controller()
export class MetricsController extends PrometheusController {
  @Get()
  override index(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    return super.index(reply);
  }
}
