// Create an account: a new household with the browser's time zone, or, with
// an invite token from an owner (also taken from `?invite=`), a viewer in
// theirs.

import { field, h } from "../dom";
import { clearError, errorBox, showError, whileBusy } from "../components/feedback";
import { navigate, type PageContext } from "../router";
import * as session from "../session";
import { safeNext } from "./login";

export function render(root: HTMLElement, { query }: PageContext): void {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true });
  const invite = h("input", { type: "text", name: "invite", autocomplete: "off", spellcheck: "false", value: query.get("invite") ?? "" });
  const submit = h("button", { type: "submit" }, "Create account");
  const error = errorBox();
  const zone = session.browserTimeZone();
  const form = h(
    "form",
    { class: "card narrow" },
    field("Email", email),
    field("Password", password, "Choose a long password; the server tells you if it is too weak."),
    field("Invite token (optional)", invite, "Only if a household's owner invited you: you join their household as a viewer."),
    h("p", { class: "hint" }, `Your household's time zone will be ${zone}; you can change it in Settings.`),
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    try {
      await whileBusy(submit, "Creating account…", () =>
        session.register(email.value.trim(), password.value, invite.value.trim() || undefined),
      );
      navigate(safeNext(query.get("next")), { replace: true });
    } catch (e) {
      showError(error, e);
    }
  });
  root.append(
    h("section", { class: "auth" },
      h("h1", {}, "Create your Wattline account"),
      form,
      h("p", {}, "Already have an account? ", h("a", { href: "/login" }, "Log in instead")),
    ),
  );
  email.focus();
}
