import { Injectable, type PipeTransform } from '@nestjs/common';
import { RequestValidationError } from '../common/domain-error.js';
import { ID_RULE, ITEM_ID_PATTERN } from './item-rules.js';

/**
 * Checks the `:id` path parameter. One pattern, on the path of every item request: a class-validator
 * DTO here cost 12% of a GET's CPU (plainToInstance and validate per request; bench/README.md) for
 * the same check. The error is the one the validation pipe gives for a body field.
 */
@Injectable()
export class ItemIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!ITEM_ID_PATTERN.test(value)) {
      throw new RequestValidationError(`The request is invalid (id: ${ID_RULE}).`, [{ field: 'id', message: ID_RULE }]);
    }
    return value;
  }
}
