/**
 * Checks every certificate goes through before it is stored (ACME-issued or imported), so nginx
 * is never pointed at a pair it would refuse or a certificate for another name.
 */
import { createPrivateKey, type KeyObject, type X509Certificate } from "node:crypto";
import { Invalid, errorText } from "../errors";
import { sanCovers } from "./domain";
import { certInfo, parseCertificate, splitPemChain, type CertInfo } from "./info";

export interface PairInput {
  domain: string;
  /** Leaf first, then intermediates (what nginx's ssl_certificate wants). */
  fullchainPem: string;
  privkeyPem: string;
}

function parseKey(pem: string): KeyObject {
  if (/ENCRYPTED/.test(pem))
    throw new Invalid(
      "the private key is passphrase-protected; nginx needs it unencrypted (openssl pkey -in key.pem -out plain.pem)",
    );
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new Invalid(`not a readable private key (PEM expected): ${errorText(e)}`);
  }
}

/** Each certificate must be issued by the next one: catches reversed or foreign chains. */
function checkChainOrder(chain: X509Certificate[]): void {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1])) {
      throw new Invalid(
        `certificate ${i + 1} of the chain (${chain[i].subject}) is not issued by certificate ${i + 2} (${chain[i + 1].subject}); put the server certificate first, then its intermediates in order`,
      );
    }
  }
}

/** Validates the pair for `domain` at `now` and returns the leaf's info. Throws Invalid. */
export function validatePair(input: PairInput, now: Date = new Date()): CertInfo {
  const blocks = splitPemChain(input.fullchainPem);
  if (blocks.length === 0) throw new Invalid("no certificate found in the certificate file (PEM expected)");
  const chain = blocks.map((b) => parseCertificate(b));
  const leaf = chain[0];
  const key = parseKey(input.privkeyPem);
  if (!leaf.checkPrivateKey(key)) throw new Invalid("the private key does not belong to the certificate");
  checkChainOrder(chain);
  const info = certInfo(leaf);
  if (!sanCovers(info.sans, input.domain)) {
    throw new Invalid(`the certificate does not cover ${input.domain} (its names: ${info.sans.join(", ") || "none"})`);
  }
  if (info.notAfter.getTime() <= now.getTime())
    throw new Invalid(`the certificate expired on ${info.notAfter.toISOString()}`);
  if (info.notBefore.getTime() > now.getTime() + 5 * 60_000)
    throw new Invalid(`the certificate is not valid before ${info.notBefore.toISOString()} (check the clock)`);
  return info;
}
