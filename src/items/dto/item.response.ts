import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import type { Item } from '../item.js';
import { ITEM_ID_PATTERN, ITEM_NAME_MAX_LENGTH } from '../item-rules.js';
import type { ItemsPage } from '../items.service.js';

/** The OpenAPI shape of an Item, as every response carries it. */
@ApiSchema({ name: 'Item' })
export class ItemResponse implements Item {
  @ApiProperty({ pattern: ITEM_ID_PATTERN.source, example: 'a1' })
  id!: string;

  // No minLength/maxLength here: an item stored under an earlier, looser rule is served as stored.
  @ApiProperty({
    description: `1-${ITEM_NAME_MAX_LENGTH} Unicode code points, trimmed, as the request set it. An item stored under an earlier, looser rule is served as it was stored, and may fall outside these bounds.`,
    example: 'Teapot',
  })
  name!: string;

  @ApiProperty({ format: 'date-time', description: 'UTC, with milliseconds.', example: '2026-11-21T10:00:00.000Z' })
  created_at!: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:05:00.000Z' })
  updated_at!: string;

  @ApiProperty({ type: 'integer', minimum: 1, description: 'Starts at 1, +1 on every change.', example: 1 })
  version!: number;
}

@ApiSchema({ name: 'ItemsPage' })
export class ItemsPageResponse implements ItemsPage {
  @ApiProperty({ type: [ItemResponse], description: 'Ordered by created_at, then id.' })
  items!: ItemResponse[];

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'Pass as `cursor` for the next page; null on the last page.',
  })
  next_cursor!: string | null;
}
