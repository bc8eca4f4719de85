// A real OpenID Connect provider on 127.0.0.1 for the member API's tests (docs/members.md,
// docs/testing.md): oidc-provider, the certified Node.js implementation, with its discovery
// document and JWKS as a chain's provider serves them, and JWT access tokens for the member API's
// audience. One route is the tests' own: GET /test/token?sub=S mints an access token for subject
// S through the provider itself (instead of a browser sign-in).
//
//   node tests/oidc/provider.mjs PORT KID [AUDIENCE]
//
// PORT 0 takes a free port; the line "ready PORT" on stdout says it listens. KID names the RSA
// signing key, new at every start: restarting with another KID is a key rotation.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [portArg = '0', kid = 'k1', audience = 'accrue-members'] = process.argv.slice(2);
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
const resourceServer = { audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };

let provider;
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, provider.issuer);
    if (url.pathname === '/test/token') {
      const client = await provider.Client.find('accrue-app');
      const token = new provider.AccessToken({
        accountId: url.searchParams.get('sub'), client, scope: 'openid', resourceServer,
      });
      res.setHeader('content-type', 'text/plain');
      res.end(await token.save());
      return;
    }
    provider.callback()(req, res);
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e));
  }
});
server.listen(Number(portArg), '127.0.0.1', () => {
  const { port } = server.address();
  provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: 'accrue-app', client_secret: 'not-a-secret',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code'], response_types: ['code'],
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: ['accrue-test-only'] },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        getResourceServerInfo: () => resourceServer,
        useGrantedResource: () => true,
      },
    },
  });
  process.stdout.write(`ready ${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
