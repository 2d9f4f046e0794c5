import { Transform } from 'class-transformer';
import { IsOptional, IsString, Length, Matches } from 'class-validator';
import { ITEM_ID_PATTERN, ITEM_NAME_MAX_LENGTH } from '../item.js';

export const ID_RULE = 'id must be 1-64 characters of A-Z, a-z, 0-9, ".", "_", "~" or "-"';
export const NAME_RULE = `name must be 1-${ITEM_NAME_MAX_LENGTH} characters after trimming`;

/** Trims strings and leaves anything else for the validators to reject. */
export const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value);

export class CreateItemDto {
  /** Chosen by the client, or a UUID made by the server when absent. */
  @IsOptional()
  @IsString({ message: ID_RULE })
  @Matches(ITEM_ID_PATTERN, { message: ID_RULE })
  id?: string;

  @Transform(trim)
  @IsString({ message: NAME_RULE })
  @Length(1, ITEM_NAME_MAX_LENGTH, { message: NAME_RULE })
  name!: string;
}
