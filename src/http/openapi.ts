import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { createRequire } from 'node:module';

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
        description: 'Chatroom custom attributes, compatible with Agora Chat\'s RESTful API. Every route exists under '
          + '/{org}/{app}/... and under /app-id/{appId}/...; errors come in Agora\'s error envelope.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: '007 AccessToken2 or a token from POST .../token' } } },
      security: [{ bearer: [] }],
    },
  });
  await f.register(swaggerUi, { routePrefix: '/docs' });
  f.get('/openapi.json', { schema: { hide: true } }, async () => f.swagger());
}
