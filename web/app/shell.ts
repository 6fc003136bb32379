// The page frame: header with the brand, main navigation (a "Menu" toggle
// on narrow screens), the user and "Log out"; the router renders into
// <main>. Logged out, only the brand shows.

import { h } from "./dom";
import type { User } from "./api/types";

const NAV = [
  { href: "/", label: "Overview" },
  { href: "/sockets", label: "Sockets" },
  { href: "/energy", label: "Energy" },
  { href: "/devices", label: "Devices" },
  { href: "/settings", label: "Settings" },
];

export interface Shell {
  /** Where pages render. */
  main: HTMLElement;
  /** Shows the navigation for `user`, or hides it (null). */
  setUser(user: User | null): void;
  /** Marks the link of the current page. */
  setPath(path: string): void;
}

export function createShell(root: HTMLElement, onLogout: () => void): Shell {
  const links = NAV.map((item) => h("a", { href: item.href }, item.label));
  const email = h("span", { class: "user-email" });
  const logout = h("button", { type: "button", class: "secondary small", onclick: onLogout }, "Log out");
  const nav = h(
    "nav",
    { id: "main-nav", "aria-label": "Main" },
    h("ul", {}, links.map((link) => h("li", {}, link))),
    h("div", { class: "account" }, email, logout),
  );
  const toggle = h("button", {
    type: "button",
    class: "menu-toggle secondary small",
    "aria-expanded": "false",
    "aria-controls": "main-nav",
  }, "Menu");
  const setOpen = (open: boolean) => {
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  };
  toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
  // A chosen link closes the menu on phones.
  nav.addEventListener("click", (event) => {
    if ((event.target as Element).closest("a")) setOpen(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && nav.classList.contains("open")) {
      setOpen(false);
      toggle.focus();
    }
  });

  const header = h("header", { class: "topbar" }, h("a", { class: "brand", href: "/" }, h("span", { "aria-hidden": "true" }, "⚡"), " Wattline"), toggle, nav);
  const main = h("main", { id: "main", tabindex: "-1" });
  root.replaceChildren(header, main);

  return {
    main,
    setUser(user) {
      header.classList.toggle("logged-in", user !== null);
      toggle.hidden = user === null;
      nav.hidden = user === null;
      email.textContent = user ? user.email : "";
      setOpen(false);
    },
    setPath(path) {
      for (const link of links) {
        const href = link.getAttribute("href") ?? "";
        const here = href === "/" ? path === "/" : path === href || path.startsWith(`${href}/`);
        if (here) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
    },
  };
}
