import {
  Body,
  Controller,
  Delete,
  Get,
  Head,
  Headers,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiExcludeEndpoint,
  ApiHeader,
  ApiNoContentResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
  type SecurityRequirementObject,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { API_KEY_SCHEME, ApiKeyGuard, callerOf } from '../auth/api-key.guard.js';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard.js';
import { ApiProblems, RESPONSE_HEADERS } from '../common/problem-details.schema.js';
import { CreateItemDto } from './dto/create-item.dto.js';
import { ItemResponse, ItemsPageResponse } from './dto/item.response.js';
import { ItemIdPipe } from './item-id.pipe.js';
import { DEFAULT_PAGE_SIZE, ListItemsQuery } from './dto/list-items.query.js';
import { UpdateItemDto } from './dto/update-item.dto.js';
import type { Item } from './item.js';
import { ITEM_ID_PATTERN } from './item-rules.js';
import { itemEtag } from './item-etag.js';
import { type ItemsPage, ItemsService } from './items.service.js';
import { parseIfMatch, parseIfNoneMatch } from './preconditions.js';
import {
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENCY_KEY_MAX_LENGTH,
  IDEMPOTENT_REPLAYED_HEADER,
  parseIdempotencyKey,
} from './idempotency/idempotency-key.js';

const { requestId, rateLimit, etag, location } = RESPONSE_HEADERS;
/** Reads need a key only when AUTH_READS=true: the document says "optional". */
const READ_SECURITY: SecurityRequirementObject[] = [{}, { [API_KEY_SCHEME]: [] }];
const ID_PARAM = { name: 'id', schema: { type: 'string', pattern: ITEM_ID_PATTERN.source }, example: 'a1' } as const;
const IF_MATCH = {
  name: 'If-Match',
  required: false,
  description:
    'The item\'s ETag, or `*`: the change is refused (412) if the item has changed since. Strong comparison: a weak tag (`W/"..."`) never matches. A value that is neither `*` nor a list of entity-tags is a 400 (INVALID_PRECONDITION).',
  schema: { type: 'string' },
} as const;
const IF_NONE_MATCH = {
  name: 'If-None-Match',
  required: false,
  description:
    'ETags of the copies the client holds, or `*`: 304 with no body if one is current. Weak comparison (`W/` is ignored). A value that is neither `*` nor a list of entity-tags is a 400 (INVALID_PRECONDITION).',
  schema: { type: 'string' },
} as const;

const IDEMPOTENCY_KEY = {
  name: IDEMPOTENCY_KEY_HEADER,
  required: false,
  description:
    'Makes a retry safe (IETF draft-ietf-httpapi-idempotency-key-header): a POST repeated with the same key and ' +
    'the same body within IDEMPOTENCY_KEY_TTL (24 h by default) creates nothing and gets the first answer again ' +
    '(status, Location, ETag and the item as it was created), marked `Idempotent-Replayed: true`. The same key ' +
    'with another body: 422. While the first request is still in flight: 409. Keys are per API key. ' +
    `A quoted string ("…") or a bare token, 1-${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters.`,
  schema: {
    type: 'string',
    minLength: 1,
    maxLength: IDEMPOTENCY_KEY_MAX_LENGTH + 2,
    example: '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
  },
} as const;
const IDEMPOTENT_REPLAYED = {
  [IDEMPOTENT_REPLAYED_HEADER]: {
    description: 'Present (`true`) when this is the replay of an earlier answer to the same Idempotency-Key.',
    schema: { type: 'string', enum: ['true'] },
  },
};

@Controller('items')
@ApiTags('items')
// The budget first: a client guessing keys spends it too.
@UseGuards(RateLimitGuard, ApiKeyGuard)
@ApiProblems(400, 401, 429, 500)
export class ItemsController {
  constructor(private readonly items: ItemsService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({
    operationId: 'createItem',
    summary: 'Create an item',
    description:
      'Answers once the item is on disk. Without an id, the server makes a UUID. With an Idempotency-Key, ' +
      'a retry is safe: it is answered as the first request was, and creates nothing.',
  })
  @ApiBearerAuth(API_KEY_SCHEME)
  @ApiHeader(IDEMPOTENCY_KEY)
  @ApiResponse({
    status: 201,
    description: 'Created, and on disk; or, with Idempotent-Replayed, the first answer to this Idempotency-Key.',
    type: ItemResponse,
    headers: { ...requestId, ...rateLimit, ...location, ...etag, ...IDEMPOTENT_REPLAYED },
  })
  @ApiProblems(409, 413, 415, 422, 503)
  async create(
    @Body() body: CreateItemDto,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Item> {
    const { item, replayed } =
      idempotencyKey === undefined
        ? { item: await this.items.create(body), replayed: false }
        : await this.items.createOnce(body, { key: parseIdempotencyKey(idempotencyKey), scope: callerOf(request) });
    // A replay answers the item as it was created: its ETag then, whatever its version now.
    void reply.header('location', `/items/${item.id}`).header('etag', itemEtag(item));
    if (replayed) void reply.header(IDEMPOTENT_REPLAYED_HEADER, 'true');
    return item;
  }

  @Get()
  @ApiOperation({
    operationId: 'listItems',
    summary: 'List items, a page at a time',
    description: 'Ordered by creation time, then id; follow `next_cursor` until it is null.',
    security: READ_SECURITY,
  })
  @ApiResponse({ status: 200, type: ItemsPageResponse, headers: { ...requestId, ...rateLimit } })
  // On PostgreSQL, a read needs the database too.
  @ApiProblems(503)
  list(@Query() query: ListItemsQuery): Promise<ItemsPage> {
    return this.items.list(query.limit ?? DEFAULT_PAGE_SIZE, query.cursor);
  }

  /**
   * GET's HEAD, declared before it: Fastify's automatic HEAD route (exposeHeadRoutes) would answer a 304
   * with `Content-Length: 0`, where RFC 9110 §8.6 allows only the 200's length or none. Node sends no
   * body for a HEAD request; Fastify still sets the length of the body that was not sent.
   */
  @Head(':id')
  @ApiExcludeEndpoint()
  head(
    @Param('id', ItemIdPipe) id: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.get(id, ifNoneMatch, reply);
  }

  @Get(':id')
  @ApiOperation({
    operationId: 'getItem',
    summary: 'Get an item',
    description:
      'The ETag header carries its version, for If-Match on a later change and If-None-Match on a later read.',
    security: READ_SECURITY,
  })
  @ApiParam(ID_PARAM)
  @ApiHeader(IF_NONE_MATCH)
  @ApiResponse({ status: 200, type: ItemResponse, headers: { ...requestId, ...rateLimit, ...etag } })
  @ApiResponse({
    status: 304,
    description: 'Not modified: If-None-Match names the current ETag. No body.',
    headers: { ...requestId, ...rateLimit, ...etag },
  })
  @ApiProblems(404, 414, 503)
  async get(
    @Param('id', ItemIdPipe) id: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    // Not passthrough: Nest would then set the status of every GET to 200, a 304 included.
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { item, notModified } = await this.items.getIfNoneMatch(id, parseIfNoneMatch(ifNoneMatch));
    void reply.header('etag', itemEtag(item));
    // RFC 9110 §15.4.5: the ETag a 200 would carry, and no representation (no Content-Type).
    if (notModified) void reply.status(304).send();
    else void reply.send(item);
  }

  @Patch(':id')
  @ApiOperation({
    operationId: 'updateItem',
    summary: 'Rename an item',
    description: 'With If-Match, only if the item has not changed since that ETag. Answers once on disk.',
  })
  @ApiBearerAuth(API_KEY_SCHEME)
  @ApiParam(ID_PARAM)
  @ApiHeader(IF_MATCH)
  @ApiBody({ type: UpdateItemDto })
  @ApiResponse({ status: 200, type: ItemResponse, headers: { ...requestId, ...rateLimit, ...etag } })
  @ApiProblems(404, 412, 413, 414, 415, 503)
  async update(
    @Param('id', ItemIdPipe) id: string,
    @Body() body: UpdateItemDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Item> {
    const item = await this.items.update(id, body, parseIfMatch(ifMatch));
    void reply.header('etag', itemEtag(item));
    return item;
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteItem',
    summary: 'Delete an item',
    description: 'With If-Match, only if the item has not changed since that ETag. Answers once on disk.',
  })
  @ApiBearerAuth(API_KEY_SCHEME)
  @ApiParam(ID_PARAM)
  @ApiHeader(IF_MATCH)
  @ApiNoContentResponse({ description: 'Deleted, and on disk.', headers: { ...requestId, ...rateLimit } })
  // A DELETE may carry a body, which is parsed like any other (and refused the same way).
  @ApiProblems(404, 412, 413, 414, 415, 503)
  async remove(@Param('id', ItemIdPipe) id: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.items.remove(id, parseIfMatch(ifMatch));
  }
}
