// Any path no route matches.

import { h } from "../dom";

export function render(root: HTMLElement): void {
  root.append(
    h("h1", {}, "Page not found"),
    h("p", {}, "There is nothing at ", h("code", {}, location.pathname), ". ", h("a", { href: "/" }, "Go to the overview"), "."),
  );
}
