"use server";

import { redirect } from "next/navigation";
import { CredentialsSignin } from "next-auth";
import { signIn, signOut } from "@/server/web/auth/auth";
import { ActionFailure, memberAction, NoInput, publicAction } from "@/server/web/auth/wrappers";
import { SignInInput } from "@/server/web/dal/authenticate-credentials";
import { ChangePasswordInput, changeOwnPassword } from "@/server/web/dal/change-own-password";
import { clearStandingCookie, setStandingCookie } from "@/server/web/dal/get-account-standing";
import { getSessionToken } from "@/server/web/dal/get-session";
import { ResetPasswordInput, resetPasswordWithToken } from "@/server/web/dal/password-reset";
import { recordAuditEvent } from "@/server/web/dal/record-audit-event";
import { AccountRequestInput, requestAccount } from "@/server/web/dal/request-account";
import { revokeSession } from "@/server/web/dal/revoke-session";

/** The one answer for an unknown account and a wrong password. */
const BAD_CREDENTIALS = "Wrong username or password.";

export const signInAction = publicAction(SignInInput, async (input) => {
  try {
    await signIn("credentials", { identifier: input.identifier, password: input.password, redirect: false });
  } catch (e) {
    if (!(e instanceof CredentialsSignin)) throw e;
    const [kind, arg] = (e.code ?? "").split(":");
    if (kind === "rate-limited") {
      const n = Number(arg) || 15;
      throw new ActionFailure(
        "rate-limited",
        `Too many attempts. Try again in ${n} minute${n === 1 ? "" : "s"}.`,
      );
    }
    if (kind === "refused") {
      // The password was right (authenticateCredentials checks it first): show this account's
      // status page, with the admin's reason and whom to ask.
      await setStandingCookie(input.identifier);
      redirect("/account-status");
    }
    throw new ActionFailure("unauthorized", BAD_CREDENTIALS);
  }
  // The dashboard sends a pending account on to /pending.
  redirect("/");
});

export const signOutAction = publicAction(NoInput, async (_input, { caller, meta }) => {
  if (caller)
    await recordAuditEvent({
      actor: caller,
      action: "signout",
      result: "success",
      targetUserId: caller.id,
      meta,
    });
  // The cookie is deleted below, but a copy of it must count no more either.
  const token = await getSessionToken();
  if (token) await revokeSession(token);
  await clearStandingCookie();
  await signOut({ redirectTo: "/login" });
});

export const requestAccountAction = publicAction(AccountRequestInput, async (input, { meta }) => {
  await requestAccount(input, meta);
  redirect("/signup/sent");
});

/** /account: a new password (the current one required); every other session ends. */
export const changePasswordAction = memberAction(
  "account.password",
  ChangePasswordInput,
  async (input, { caller, meta }) => {
    const { username } = await changeOwnPassword(caller, input, meta);
    // The version bump ended this session too; sign this browser in again with the new password,
    // then load the page afresh (with the new cookie) to say it worked.
    await signIn("credentials", { identifier: username, password: input.next, redirect: false });
    redirect("/account?changed=1");
  },
);

/** /reset/<token>: a new password through an admin's one-time link; then sign in with it. */
export const resetPasswordAction = publicAction(ResetPasswordInput, async (input, { meta }) => {
  await resetPasswordWithToken(input, meta);
  redirect("/login?reset=1");
});
