import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { ItemName, NAME_PROPERTY } from './item-fields.js';

/** The fields a client may change; id, timestamps and version belong to the server. */
@ApiSchema({ name: 'ItemChanges' })
export class UpdateItemDto {
  @ApiProperty(NAME_PROPERTY)
  @ItemName()
  name!: string;
}
