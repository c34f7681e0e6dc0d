// The single entry to @peculiar/x509: it needs reflect-metadata loaded first and a crypto
// provider set. Node's own WebCrypto suffices (P-256/384/521, RSA, RSA-PSS, Ed25519) and is
// ~7x faster at ECDSA than @peculiar/webcrypto, so that polyfill is not a dependency.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
