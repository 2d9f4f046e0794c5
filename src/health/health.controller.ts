import { applyDecorators, Controller, Get, Logger, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheck, type HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import {
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiResponse,
  ApiSchema,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { PROBLEM_MEDIA_TYPE, ProblemDetailsSchema, RESPONSE_HEADERS } from '../common/problem-details.schema.js';
import { HealthChecks } from './health-checks.js';
import { HealthCheckFailedError, type Probe } from './health.errors.js';

const CHECKS = { type: 'object', additionalProperties: { type: 'object' } } as const;

/** What a passing probe answers (terminus's result): each check by name, with its status. */
@ApiSchema({ name: 'HealthResult' })
class HealthResultSchema {
  @ApiProperty({ enum: ['ok'] })
  status!: 'ok';

  @ApiPropertyOptional({ ...CHECKS, description: 'The checks that passed.' })
  info?: Record<string, unknown>;

  @ApiPropertyOptional({ ...CHECKS, description: 'The checks that failed (none, when the probe passes).' })
  error?: Record<string, unknown>;

  @ApiPropertyOptional({ ...CHECKS, description: 'Every check.' })
  details?: Record<string, unknown>;
}

/** 200 with the checks, or a 503 problem whose `checks` says which failed and why. */
function ApiProbe(operationId: string, summary: string, description: string): MethodDecorator {
  return applyDecorators(
    ApiOperation({ operationId, summary, description, security: [] }),
    ApiResponse({ status: 200, headers: RESPONSE_HEADERS.requestId, type: HealthResultSchema }),
    ApiResponse({
      status: 503,
      description: 'A check failed (NOT_LIVE, NOT_READY or NOT_STARTED); `checks` says which.',
      headers: { ...RESPONSE_HEADERS.requestId, ...RESPONSE_HEADERS.retryAfter },
      content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: getSchemaPath(ProblemDetailsSchema) } } },
    }),
  );
}

/**
 * The three probes Kubernetes uses. 200 with each check's result, or a 503 problem that names the
 * failing checks. A probe is logged only when its outcome changes, not on every call.
 */
@Controller()
@ApiTags('health')
export class HealthController {
  private readonly logger = new Logger('Health');
  private readonly lastOutcome = new Map<Probe, boolean>();

  constructor(
    private readonly health: HealthCheckService,
    private readonly checks: HealthChecks,
  ) {}

  /** Liveness: the process is not stuck. Dependencies are not checked: a restart would not fix them. */
  @Get('healthz')
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiProbe('liveness', 'Liveness: the process is not stuck', 'Checks the event loop only; a failure means restart.')
  liveness(): Promise<HealthCheckResult> {
    return this.probe('liveness');
  }

  /** Readiness: send traffic here; the store can take writes and no shutdown has begun. */
  @Get('readyz')
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiProbe('readiness', 'Readiness: send traffic here', 'The store takes writes and no shutdown has begun.')
  readiness(): Promise<HealthCheckResult> {
    return this.probe('readiness');
  }

  /** Startup: initialisation (store load, journal replay) has finished; liveness starts counting after. */
  @Get('startupz')
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiProbe('startup', 'Startup: initialisation has finished', 'The store is loaded and the journal replayed.')
  startup(): Promise<HealthCheckResult> {
    return this.probe('startup');
  }

  private async probe(probe: Probe): Promise<HealthCheckResult> {
    try {
      const result = await this.health.check(this.checks.of(probe));
      this.record(probe, true);
      return result;
    } catch (err) {
      if (!(err instanceof ServiceUnavailableException)) throw err;
      const failure = new HealthCheckFailedError(probe, err.getResponse() as HealthCheckResult);
      this.record(probe, false, failure.message);
      throw failure;
    }
  }

  private record(probe: Probe, passed: boolean, detail?: string): void {
    if (this.lastOutcome.get(probe) === passed) return;
    const first = !this.lastOutcome.has(probe);
    this.lastOutcome.set(probe, passed);
    if (passed && first) return;
    if (passed) this.logger.log({ msg: `${probe} probe passes again`, probe });
    else this.logger.warn({ msg: `${probe} probe fails`, probe, detail });
  }
}
