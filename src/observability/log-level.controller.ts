import { ApiExcludeController } from '@nestjs/swagger';
import { Body, Controller, Get, Logger, Put, UseGuards } from '@nestjs/common';
import { IsIn } from 'class-validator';
import { AdminKeyGuard } from '../auth/api-key.guard.js';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard.js';
import { currentLogLevel, setLogLevel } from './logging.module.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** From the most verbose; `silent` last. */
const VERBOSITY = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function mostVerbose(a: string, b: string): string {
  return VERBOSITY.indexOf(a) <= VERBOSITY.indexOf(b) ? a : b;
}

export class LogLevelDto {
  @IsIn(LEVELS, { message: `level must be one of ${LEVELS.join(', ')}` })
  level!: (typeof LEVELS)[number];
}

/**
 * The log level at run time, e.g. debug for a few minutes while investigating, without a restart
 * (which would lose the state being investigated). An endpoint rather than a signal: a distroless
 * container has no `kill` to send one with. It takes an admin key (ADMIN_API_KEYS), reads included, and
 * is refused when none is configured. The level lasts until changed again or the process restarts.
 */
// Operators' endpoints, not the API's: out of the document that clients are generated from.
@ApiExcludeController()
@Controller('admin/log-level')
@UseGuards(RateLimitGuard, AdminKeyGuard)
export class LogLevelController {
  private readonly logger = new Logger('Admin');

  @Get()
  get(): LogLevelDto {
    return { level: currentLogLevel() as LogLevelDto['level'] };
  }

  @Put()
  set(@Body() body: LogLevelDto): LogLevelDto {
    const previous = currentLogLevel();
    // On record whatever the two levels: logged at warn, with warn let through for this one line.
    setLogLevel(mostVerbose(previous, 'warn'));
    this.logger.warn({ msg: 'log level changed', from: previous, to: body.level });
    setLogLevel(body.level);
    return { level: body.level };
  }
}
