import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { ID_PROPERTY, ItemName, NAME_PROPERTY, OptionalItemId } from './item-fields.js';

@ApiSchema({ name: 'NewItem' })
export class CreateItemDto {
  /** Chosen by the client, or a UUID made by the server when absent. */
  @ApiPropertyOptional(ID_PROPERTY)
  @OptionalItemId()
  id?: string;

  @ApiProperty(NAME_PROPERTY)
  @ItemName()
  name!: string;
}
