import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, IsString, Length, Matches } from 'class-validator';
import { ITEM_ID_PATTERN, ITEM_NAME_MAX_LENGTH } from '../item.js';

export const ID_RULE = 'id must be 1-64 characters of A-Z, a-z, 0-9, ".", "_", "~" or "-"';
export const NAME_RULE = `name must be 1-${ITEM_NAME_MAX_LENGTH} characters after trimming`;

/** Trims strings and leaves anything else for the validators to reject. */
export const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value);

/** Documents `name` as both DTOs validate it. */
export const NAME_PROPERTY = {
  description: 'Leading and trailing white space is trimmed.',
  minLength: 1,
  maxLength: ITEM_NAME_MAX_LENGTH,
  example: 'Teapot',
};

@ApiSchema({ name: 'NewItem' })
export class CreateItemDto {
  /** Chosen by the client, or a UUID made by the server when absent. */
  @ApiPropertyOptional({
    description: 'Chosen by the client (unique), or a UUID made by the server when absent.',
    pattern: ITEM_ID_PATTERN.source,
    example: 'a1',
  })
  @IsOptional()
  @IsString({ message: ID_RULE })
  @Matches(ITEM_ID_PATTERN, { message: ID_RULE })
  id?: string;

  @ApiProperty(NAME_PROPERTY)
  @Transform(trim)
  @IsString({ message: NAME_RULE })
  @Length(1, ITEM_NAME_MAX_LENGTH, { message: NAME_RULE })
  name!: string;
}
