import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { type FieldError, RequestValidationError } from './domain-error.js';

const MAX_FIELD_NAME_LENGTH = 64;

/**
 * Validates bodies, queries and path parameters against their DTO classes. Unknown fields are
 * refused, never stored; every failure is a RequestValidationError that names the fields without
 * echoing their values.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const fieldErrors = flatten(errors);
      const detail = fieldErrors.length > 0 ? `${fieldErrors[0]!.field}: ${fieldErrors[0]!.message}` : 'invalid';
      return new RequestValidationError(`The request is invalid (${detail}).`, fieldErrors);
    },
  });
}

function flatten(errors: readonly ValidationError[], prefix = ''): FieldError[] {
  const result: FieldError[] = [];
  for (const error of errors) {
    const name =
      error.property.length > MAX_FIELD_NAME_LENGTH
        ? `${error.property.slice(0, MAX_FIELD_NAME_LENGTH)}...`
        : error.property;
    const field = prefix + name;
    const constraints = error.constraints ?? {};
    if ('whitelistValidation' in constraints) {
      result.push({ field, message: 'is not a known field' });
    } else {
      const first = Object.values(constraints)[0];
      if (first !== undefined) result.push({ field, message: first });
    }
    if (error.children?.length) result.push(...flatten(error.children, `${field}.`));
  }
  return result.slice(0, 20);
}
