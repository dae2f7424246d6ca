import { withBodyCredential, z } from "@/server/web/auth/wrappers";
import { ActionFailure } from "@/server/web/errors";
import { PkiError } from "@/server/web/hosts/pki";
import { HostError, joinHost } from "@/server/web/hosts/service";

/**
 * `agent join` on a new host: the one-time token `zaphod host add` printed and a certificate
 * request; the answer is the host's certificate, the panel's CA (the agent checks its fingerprint)
 * and the current CRL.
 */
export const POST = withBodyCredential(
  z.object({ token: z.string().max(200), csr: z.string().max(8192) }).strict(),
  async (input) => {
    try {
      return await joinHost(input);
    } catch (error) {
      if (error instanceof HostError || error instanceof PkiError)
        throw new ActionFailure("invalid", error.message);
      throw error;
    }
  },
);
