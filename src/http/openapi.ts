import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { createRequire } from 'node:module';
import { OPTIONAL_BODY } from './routes/define-route.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

/**
 * OpenAPI 3 built from the same TypeBox schemas the routes validate with (@fastify/swagger reads
 * them off every route as it is registered), served at /openapi.json and browsable at /docs.
 * Must be registered before the routes.
 */
export async function registerDocs(f: FastifyInstance): Promise<void> {
  await f.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'roomkv',
        version,
        description:
          "Chatroom custom attributes, compatible with Agora Chat's RESTful API. Every route exists under " +
          "/{org}/{app}/... and under /app-id/{appId}/...; errors come in Agora's error envelope.",
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: '007 AccessToken2 or a token from POST .../token' } },
      },
      security: [{ bearer: [] }],
    },
    // Only an OpenAPI document is made here (no Swagger 2 one).
    transformObject: (doc) => markOptionalBodies((doc as { openapiObject: OpenApiDoc }).openapiObject) as object,
  });
  await f.register(swaggerUi, { routePrefix: '/docs' });
  f.get('/openapi.json', { schema: { hide: true } }, async () => f.swagger());
}

type OpenApiDoc = { paths?: Record<string, Record<string, { requestBody?: { required?: boolean }; [key: string]: unknown }>> };

/**
 * @fastify/swagger writes every body it knows of as required (Fastify needs one when a route has a
 * body schema); a route that accepts none (the get call) says so with OPTIONAL_BODY, and its body
 * is made optional here, so /docs neither demands one nor sends one it made up.
 */
function markOptionalBodies(doc: OpenApiDoc): OpenApiDoc {
  for (const path of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(path)) {
      if (op === null || typeof op !== 'object' || !(OPTIONAL_BODY in op)) continue;
      delete op[OPTIONAL_BODY];
      if (op.requestBody) op.requestBody.required = false;
    }
  }
  return doc;
}
