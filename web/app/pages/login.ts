// Log in: email and password; on success, back to where the visitor was
// sent from (`?next=`), else the Overview.

import { field, h } from "../dom";
import { clearError, errorBox, showError, whileBusy } from "../components/feedback";
import { navigate, type PageContext } from "../router";
import * as session from "../session";

export function render(root: HTMLElement, { query }: PageContext): void {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit" }, "Log in");
  const error = errorBox();
  const form = h(
    "form",
    { class: "card narrow", novalidate: false },
    field("Email", email),
    field("Password", password),
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    try {
      await whileBusy(submit, "Logging in…", () => session.login(email.value.trim(), password.value));
      navigate(safeNext(query.get("next")), { replace: true });
    } catch (e) {
      showError(error, e);
      password.select();
    }
  });
  root.append(
    h("section", { class: "auth" },
      h("h1", {}, "Log in to Wattline"),
      form,
      h("p", {}, "New here? ", h("a", { href: `/register${location.search}` }, "Create an account")),
    ),
  );
  email.focus();
}

/** Only a path on this site (never `//evil.example`) may follow a login. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}
