// panva's oidc-provider (OpenID Certified) on loopback, for riso-auth's tests.
//
// Configured by one JSON argument (or the OIDC_PROVIDER_CONFIG variable):
//   {"port": 4000, "clients": [{"client_id", "client_secret", "redirect_uris"}],
//    "accounts": {"alice": {"email": "...", "email_verified": true}}}
// An account id missing from "accounts" that looks like an email is an account
// with that email, verified unless the id contains "unverified" (so each test
// signs in as fresh users). The dev interactions (login form: the account id,
// any password; then a consent form) stay on: the tests drive them over HTTP. Prints
// "oidc-provider listening on <issuer>" once it accepts connections.
import Provider from 'oidc-provider';
import { generateKeyPairSync } from 'node:crypto';

const config = JSON.parse(process.argv[2] ?? process.env.OIDC_PROVIDER_CONFIG ?? '{}');
const port = Number(config.port ?? 4000);
const issuer = `http://127.0.0.1:${port}`;
const accounts = config.accounts ?? {};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: (config.clients ?? []).map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: { keys: [signing] },
  cookies: { keys: ['riso-test-cookie-key-0123456789abcdef'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  ttl: { AuthorizationCode: 60, IdToken: 300, AccessToken: 300, Interaction: 300, Session: 300, Grant: 300 },
  async findAccount(ctx, id) {
    let claims = accounts[id];
    if (!claims && /^[^@\s]+@[^@\s]+$/.test(id)) {
      claims = { email: id, email_verified: !id.includes('unverified') };
    }
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
});
// http on loopback: tell the provider the connection is what the issuer says
provider.proxy = true;

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
