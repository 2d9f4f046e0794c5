import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard } from '../auth/api-key.guard.js';
import { CreateItemDto } from './dto/create-item.dto.js';
import { ItemIdPipe } from './item-id.pipe.js';
import { DEFAULT_PAGE_SIZE, ListItemsQuery } from './dto/list-items.query.js';
import { UpdateItemDto } from './dto/update-item.dto.js';
import type { Item } from './item.js';
import { itemEtag, parseIfMatch } from './item-etag.js';
import { type ItemsPage, ItemsService } from './items.service.js';

@Controller('items')
@UseGuards(ApiKeyGuard)
export class ItemsController {
  constructor(private readonly items: ItemsService) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: CreateItemDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<Item> {
    const item = await this.items.create(body);
    void reply.header('location', `/items/${item.id}`).header('etag', itemEtag(item));
    return item;
  }

  @Get()
  list(@Query() query: ListItemsQuery): Promise<ItemsPage> {
    return this.items.list(query.limit ?? DEFAULT_PAGE_SIZE, query.cursor);
  }

  @Get(':id')
  async get(@Param('id', ItemIdPipe) id: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<Item> {
    const item = await this.items.get(id);
    void reply.header('etag', itemEtag(item));
    return item;
  }

  @Patch(':id')
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
  async remove(@Param('id', ItemIdPipe) id: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.items.remove(id, parseIfMatch(ifMatch));
  }
}
