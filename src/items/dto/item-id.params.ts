import { IsString, Matches } from 'class-validator';
import { ITEM_ID_PATTERN } from '../item.js';
import { ID_RULE } from './create-item.dto.js';

export class ItemIdParams {
  @IsString({ message: ID_RULE })
  @Matches(ITEM_ID_PATTERN, { message: ID_RULE })
  id!: string;
}
