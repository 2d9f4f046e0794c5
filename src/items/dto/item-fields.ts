import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { ValidateBy, ValidateIf } from 'class-validator';
import {
  ID_RULE,
  isValidId,
  isValidName,
  ITEM_ID_PATTERN,
  ITEM_NAME_MAX_LENGTH,
  NAME_LENGTH_UNIT,
  NAME_RULE,
} from '../item-rules.js';

/** Trims strings and leaves anything else for the validators to reject. */
const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value);

/**
 * `name` as the request DTOs take it: trimmed, then checked by the same rule the store applies when it
 * writes and when it loads (item-rules.ts), not by class-validator's `Length`, which counts neither code
 * points nor UTF-16 units (it discounts variation selectors).
 */
export function ItemName(): PropertyDecorator {
  return applyDecorators(
    Transform(trim),
    ValidateBy({
      name: 'isItemName',
      validator: {
        validate: (value) => typeof value === 'string' && isValidName(value),
        defaultMessage: () => NAME_RULE,
      },
    }),
  );
}

/**
 * An optional `id`: absent means the server makes one; `null` is not absence (the document says a string),
 * so it is refused like any other non-string. (`IsOptional` would let null through.)
 */
export function OptionalItemId(): PropertyDecorator {
  return applyDecorators(
    ValidateIf((_object, value) => value !== undefined),
    ValidateBy({
      name: 'isItemId',
      validator: { validate: (value) => typeof value === 'string' && isValidId(value), defaultMessage: () => ID_RULE },
    }),
  );
}

/** Documents `name` as both request DTOs validate it. */
export const NAME_PROPERTY = {
  description: NAME_LENGTH_UNIT,
  minLength: 1,
  maxLength: ITEM_NAME_MAX_LENGTH,
  example: 'Teapot',
};

/** Documents `id` as the create DTO validates it. */
export const ID_PROPERTY = {
  description: 'Chosen by the client (unique), or a UUID made by the server when absent. Not nullable.',
  pattern: ITEM_ID_PATTERN.source,
  example: 'a1',
};
