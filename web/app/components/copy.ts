// A "Copy" button for ids, secrets and commands.

import { h } from "../dom";

/** A button that copies `text()` and says so in its own label for a moment. */
export function copyButton(label: string, text: () => string): HTMLButtonElement {
  const button = h("button", { type: "button", class: "small secondary", "aria-label": label }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text());
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy";
    }
    window.setTimeout(() => (button.textContent = "Copy"), 2000);
  });
  return button;
}
