import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { HEADER_COMPONENTS } from '../common/problem-details.schema.js';
import { API_KEY_SCHEME } from '../auth/api-key.guard.js';
import type { AppConfig } from '../config/app-config.js';

const DESCRIPTION = `Items, stored durably: a write is acknowledged only once it is on disk.

Every error is \`application/problem+json\` (RFC 9457) with a stable \`code\` and the request's \`request_id\`.
Writes need \`Authorization: Bearer <key>\` when the service has API keys (reads too with AUTH_READS=true).
Each client has a request budget per window, shown in the \`RateLimit-*\` headers; a spent budget is a 429 with
\`Retry-After\`. Every response carries \`X-Request-Id\` (a well-formed one sent by the client is kept).
Every GET also answers HEAD. A method a path does not have is a 405 (METHOD_NOT_ALLOWED) whose \`Allow\` header
lists the ones it has; an unknown path is a 404 (ROUTE_NOT_FOUND).`;

const API_KEY_DESCRIPTION = `An API key, sent as \`Authorization: Bearer <key>\`: one of the keys the service was given in
API_KEYS (or API_KEYS_FILE). Keys are opaque strings chosen by the operator, not JWTs: the service only compares them
with its own, and reads nothing in them. Writes need one when the service has keys, reads too with AUTH_READS=true.`;

/**
 * The OpenAPI document, generated from the controllers and DTOs. `npm run openapi` writes it to
 * openapi/openapi.json, which is committed; a test fails when the two differ.
 */
export function buildOpenApiDocument(app: INestApplication, version: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('items-service')
    .setDescription(DESCRIPTION)
    .setVersion(version)
    // Relative: Swagger UI then calls the host that served it (an absolute URL would be refused by the
    // CSP anywhere else); generated clients take the base URL as a setting.
    .addServer('/', 'The host that serves this document')
    .setLicense('MIT', 'https://opensource.org/licenses/MIT')
    // addBearerAuth would add `bearerFormat: JWT`, which these keys are not.
    .addSecurity(API_KEY_SCHEME, { type: 'http', scheme: 'bearer', description: API_KEY_DESCRIPTION })
    .addTag('items', 'The items API.')
    .addTag('health', 'Probes for Kubernetes (startup, liveness, readiness); never rate limited or authenticated.')
    .build();
  config.components = { ...config.components, headers: HEADER_COMPONENTS };
  // The method names make the operation ids unless an @ApiOperation sets one: the generated clients'
  // method names (createItem, not ItemsController_create).
  return SwaggerModule.createDocument(app, config, { operationIdFactory: (_controller, method) => method });
}

/** Serves the document at /openapi.json always, and Swagger UI at /docs when DOCS_ENABLED. */
export function serveOpenApi(app: INestApplication, config: AppConfig): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app, config.app.version), {
    jsonDocumentUrl: 'openapi.json',
    raw: ['json'],
    ui: config.docs.enabled,
    customSiteTitle: 'items-service API',
    // Swagger UI would otherwise send the document's URL to validator.swagger.io.
    swaggerOptions: { validatorUrl: null },
  });
}
