import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsString, Length } from 'class-validator';
import { ITEM_NAME_MAX_LENGTH } from '../item.js';
import { NAME_PROPERTY, NAME_RULE, trim } from './create-item.dto.js';

/** The fields a client may change; id, timestamps and version belong to the server. */
@ApiSchema({ name: 'ItemChanges' })
export class UpdateItemDto {
  @ApiProperty(NAME_PROPERTY)
  @Transform(trim)
  @IsString({ message: NAME_RULE })
  @Length(1, ITEM_NAME_MAX_LENGTH, { message: NAME_RULE })
  name!: string;
}
